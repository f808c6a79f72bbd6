"""Admin building blocks shared by every app (accounts sits at the bottom of the layers, so all may import it)."""


class ReadOnlyAdminMixin:
    """For ledgers and trails, on a ModelAdmin or an inline: services write the rows, the admin only shows them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
