"""ProfileService on the wire: request fields → domain calls → resources. Every method names the
request field a bad name came from; the caller's identity becomes the author of changes."""

from __future__ import annotations

import grpc

from healthscore.domain import names
from healthscore.domain.profiles import ProfileManager
from healthscore.server.context import current_identity, note
from healthscore.server.status import handles_errors
from healthscore_client.v1 import (
    catalog_pb2,
    profile_service_pb2,
    profile_service_pb2_grpc,
    ruleset_pb2,
)

pb = profile_service_pb2


def _actor() -> str:
    return current_identity().name


class ProfileServicer(profile_service_pb2_grpc.ProfileServiceServicer):
    """Health design: catalog, drafts, profiles, versions, activations."""

    def __init__(self, profiles: ProfileManager) -> None:
        self._profiles = profiles

    @handles_errors
    def GetCatalog(
        self, request: pb.GetCatalogRequest, context: grpc.ServicerContext
    ) -> catalog_pb2.Catalog:
        names.parse_catalog(request.name, "name")
        return self._profiles.get_catalog()

    @handles_errors
    def UpdateCatalog(
        self, request: pb.UpdateCatalogRequest, context: grpc.ServicerContext
    ) -> catalog_pb2.Catalog:
        return self._profiles.update_catalog(request.catalog, request.update_mask.paths, _actor())

    @handles_errors
    def GetDraft(self, request: pb.GetDraftRequest, context: grpc.ServicerContext) -> pb.Draft:
        return self._profiles.get_draft(names.parse_draft(request.name, "name"))

    @handles_errors
    def UpdateDraft(
        self, request: pb.UpdateDraftRequest, context: grpc.ServicerContext
    ) -> pb.Draft:
        return self._profiles.update_draft(request.draft, request.update_mask.paths, _actor())

    @handles_errors
    def ValidateDraft(
        self, request: pb.ValidateDraftRequest, context: grpc.ServicerContext
    ) -> pb.ValidateDraftResponse:
        return self._profiles.validate_draft(names.parse_draft(request.name, "name"))

    @handles_errors
    def PublishDraft(
        self, request: pb.PublishDraftRequest, context: grpc.ServicerContext
    ) -> pb.Version:
        model = names.parse_draft(request.name, "name")
        version = self._profiles.publish(model, request.comment, request.etag, _actor())
        note(version=version.name)
        return version

    @handles_errors
    def GetProfile(
        self, request: pb.GetProfileRequest, context: grpc.ServicerContext
    ) -> ruleset_pb2.Profile:
        return self._profiles.get_profile(*names.parse_profile(request.name, "name"))

    @handles_errors
    def CreateProfile(
        self, request: pb.CreateProfileRequest, context: grpc.ServicerContext
    ) -> pb.Draft:
        model = names.parse_draft(request.parent, "parent")
        position = request.position if request.HasField("position") else None
        return self._profiles.create_profile(
            model, request.profile, position, request.etag, _actor()
        )

    @handles_errors
    def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: grpc.ServicerContext
    ) -> pb.Draft:
        model, profile = names.parse_profile(request.name, "name")
        return self._profiles.update_profile(
            model, profile, request.profile, request.update_mask.paths, request.etag, _actor()
        )

    @handles_errors
    def DeleteProfile(
        self, request: pb.DeleteProfileRequest, context: grpc.ServicerContext
    ) -> pb.Draft:
        model, profile = names.parse_profile(request.name, "name")
        return self._profiles.delete_profile(model, profile, request.etag, _actor())

    @handles_errors
    def ReorderProfiles(
        self, request: pb.ReorderProfilesRequest, context: grpc.ServicerContext
    ) -> pb.Draft:
        model = names.parse_draft(request.parent, "parent")
        return self._profiles.reorder_profiles(
            model, list(request.profile_names), request.etag, _actor()
        )

    @handles_errors
    def GetVersion(
        self, request: pb.GetVersionRequest, context: grpc.ServicerContext
    ) -> pb.Version:
        model, number = names.parse_version(request.name, "name")
        return self._profiles.get_version(model, number, full=request.view != pb.VERSION_VIEW_BASIC)

    @handles_errors
    def ListVersions(
        self, request: pb.ListVersionsRequest, context: grpc.ServicerContext
    ) -> pb.ListVersionsResponse:
        model = names.parse_model(request.parent, "parent")
        versions, token = self._profiles.list_versions(
            model,
            request.page_size,
            request.page_token,
            full=request.view == pb.VERSION_VIEW_FULL,
        )
        return pb.ListVersionsResponse(versions=versions, next_page_token=token)

    @handles_errors
    def ActivateVersion(
        self, request: pb.ActivateVersionRequest, context: grpc.ServicerContext
    ) -> pb.Activation:
        model, number = names.parse_version(request.name, "name")
        activation = self._profiles.activate(model, number, request.comment, _actor())
        note(version=activation.version)
        return activation

    @handles_errors
    def GetActiveVersion(
        self, request: pb.GetActiveVersionRequest, context: grpc.ServicerContext
    ) -> pb.Activation:
        return self._profiles.active()

    @handles_errors
    def ListActivations(
        self, request: pb.ListActivationsRequest, context: grpc.ServicerContext
    ) -> pb.ListActivationsResponse:
        activations, token = self._profiles.list_activations(request.page_size, request.page_token)
        return pb.ListActivationsResponse(activations=activations, next_page_token=token)
