"""The domain layer: profiles, versions, activation, hierarchy and preview (no gRPC here)."""
