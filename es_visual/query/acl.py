"""Who may read what: the caller's principals as an IR filter.

A document is readable when its ACL field (``acl.read`` by default) holds one of
the caller's principals (``user:<name>``, ``group:<name>``) or the public
principal; a document without the field at all is public when
``missing_acl_public`` says so. The filter lands in ``SearchRequest.acl``, which
every compiler ANDs into every kNN clause and query part.

Fail closed: "without the field at all" means no key on the field's path, as
written (``Exists(..., as_written=True)``). A document whose ACL is ``[]``,
null, a number, an object, or a non-object where ``acl`` should be an object is
readable only by a principal it names (none) or an operator; never public.
Ingest refuses such ACLs (es_visual/ingest/acl.py), so this guards documents
that other tools wrote. Elasticsearch and OpenSearch index neither null nor
``[]``: until their compilers see these (see docs/security.md), there the
missing rule cannot tell an empty ACL from none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from es_visual.core import ir
from es_visual.core.errors import QueryError

if TYPE_CHECKING:
    from es_visual.config import Settings


# The group that may change documents nobody was given write access to (flask_ui's admins).
ADMIN_PRINCIPAL = "group:admin"


@dataclass(frozen=True)
class AclPolicy:
    field: str = "acl.read"
    public_principal: str | None = "public"
    missing_acl_public: bool = True
    # Who may change a document (tag it, delete it): see ``writable_filter``.
    write_field: str = "acl.write"

    @classmethod
    def from_settings(cls, settings: Settings) -> AclPolicy:
        return cls(
            field=settings.acl_field,
            public_principal=settings.public_principal or None,
            missing_acl_public=settings.missing_acl_public,
            write_field=settings.acl_write_field,
        )

    @staticmethod
    def principals(user: str, groups: Iterable[str] = ()) -> tuple[str, ...]:
        """``user:<user>`` then ``group:<g>`` for each group (prefixes already there are kept)."""
        if not user or not user.strip():
            raise QueryError("as_user needs a user name")
        out = [user if user.startswith("user:") else f"user:{user}"]
        for group in groups:
            if not group or not group.strip():
                raise QueryError("group names cannot be empty")
            out.append(group if group.startswith("group:") else f"group:{group}")
        return tuple(dict.fromkeys(out))

    def filter_for(self, user: str | None, groups: Iterable[str] = ()) -> ir.Node:
        """The documents ``user`` (in ``groups``) may read; no user = an operator: all."""
        if user is None:
            if groups:
                raise QueryError("groups were given without a user")
            return ir.MatchAll()
        return self._readable(self.principals(user, groups))

    def anonymous(self) -> ir.Node:
        """What someone who is not signed in may read: public documents only."""
        return self._readable(())

    def _readable(self, principals: tuple[str, ...]) -> ir.Node:
        allowed = principals + ((self.public_principal,) if self.public_principal else ())
        return ir.or_(
            ir.Terms(self.field, allowed) if allowed else ir.MatchNone(),
            ir.Not(self.acl_written()) if self.missing_acl_public else ir.MatchNone(),
        )

    def writable_filter(self, user: str | None, groups: Iterable[str] = ()) -> ir.Node:
        """The documents ``user`` (in ``groups``) may change: those they may read whose
        ``write_field`` holds one of their principals (the public principal never grants
        a write); a document with no write ACL at all, only the ``admin`` group. No user
        = an operator: all."""
        if user is None:
            return self.filter_for(None, groups)
        principals = self.principals(user, groups)
        unowned = ir.Not(ir.Exists(self.write_field, as_written=True))
        return ir.and_(
            self._readable(principals),
            ir.or_(
                ir.Terms(self.write_field, principals),
                unowned if ADMIN_PRINCIPAL in principals else ir.MatchNone(),
            ),
        )

    def acl_written(self) -> ir.Node:
        """Documents that carry an ACL in any form, malformed included: never "missing"."""
        return ir.Exists(self.field, as_written=True)
