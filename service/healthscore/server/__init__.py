"""The gRPC server: servicers (wire ⇄ domain), authentication, logging, and `serve`."""
