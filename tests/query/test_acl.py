"""ACL policy: principals -> the filter every request carries."""

from __future__ import annotations

import pytest

from es_visual.config import Settings
from es_visual.core.errors import QueryError
from es_visual.core.ir import Exists, MatchAll, MatchNone, Not, Or, Terms
from es_visual.query.acl import AclPolicy


def test_principals() -> None:
    assert AclPolicy.principals("alice", ["design", "group:ops"]) == (
        "user:alice",
        "group:design",
        "group:ops",
    )
    assert AclPolicy.principals("user:bob") == ("user:bob",)
    with pytest.raises(QueryError):
        AclPolicy.principals("")
    with pytest.raises(QueryError):
        AclPolicy.principals("bob", [""])


def test_default_policy_reads_own_groups_public_and_unmarked() -> None:
    node = AclPolicy().filter_for("alice", ["design"])
    assert node == Or(
        (
            Terms("acl.read", ("user:alice", "group:design", "public")),
            Not(Exists("acl.read", as_written=True)),
        )
    )


def test_policy_from_settings() -> None:
    settings = Settings(
        acl_field="perms.view", public_principal="everyone", missing_acl_public=False
    )
    policy = AclPolicy.from_settings(settings)
    assert policy.filter_for("bob") == Terms("perms.view", ("user:bob", "everyone"))
    no_public = AclPolicy("perms.view", public_principal=None, missing_acl_public=False)
    assert no_public.filter_for("bob") == Terms("perms.view", ("user:bob",))
    assert no_public.anonymous() == MatchNone()
    assert AclPolicy().anonymous() == Or(
        (Terms("acl.read", ("public",)), Not(Exists("acl.read", as_written=True)))
    )


def test_no_user_is_operator_access() -> None:
    assert AclPolicy().filter_for(None) == MatchAll()
    with pytest.raises(QueryError):
        AclPolicy().filter_for(None, ["design"])
