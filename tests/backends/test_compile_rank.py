"""The bodies a cluster ranks a text search's labels and words with (``cluster.rank``),
and the label-rank values every backend scores with (``core.labels``)."""

from __future__ import annotations

import pytest

from es_visual.backends.cluster.backend import _with_label_rank, label_rank_of
from es_visual.backends.cluster.rank import TEXT_PARAMS, rank_body
from es_visual.core import ir
from es_visual.core import labels as schema
from es_visual.core.documents import DocUpdate
from es_visual.core.ranking import LabelRank, RankRequest, TextRank

ACL = ir.Or((ir.Terms("acl.read", ("user:alice", "public")), ir.Not(ir.Exists("acl.read"))))


def test_labels_are_rank_feature_queries_weighted_and_scoped_by_the_acl() -> None:
    rank = LabelRank((("tabby", 0.8), ("St. Bernard", 0.5), ("zero", 0.0)))
    request = RankRequest("media", rank, filter=ir.Term("media_type", "image"), acl=ACL, size=7)
    body = rank_body(request, request.scoped_filter)
    assert body is not None
    query = body["query"]["bool"]
    assert query["should"] == [
        {"rank_feature": {"field": "visual.label_rank.tabby", "linear": {}, "boost": 0.8}},
        {"rank_feature": {"field": "visual.label_rank.St%2E Bernard", "linear": {}, "boost": 0.5}},
    ]
    assert query["minimum_should_match"] == 1
    acl = str(query["filter"])  # the ACL restricts every clause, scoring none
    assert "acl.read" in acl and "media_type" in acl
    assert body["size"] == 7 and "visual.label_rank" in body["_source"]["excludes"]
    assert "size" in body and "sort" not in body  # by score; no candidate cap


def test_words_are_best_field_matches_any_word() -> None:
    request = RankRequest("media", TextRank(("caption", "title"), ("mug", "tea")), acl=ACL)
    body = rank_body(request, request.scoped_filter)
    assert body is not None
    assert body["query"]["bool"]["should"] == [
        {"multi_match": {"query": w, "fields": ["caption", "title"], "type": "best_fields"}}
        for w in ("mug", "tea")
    ]
    assert TEXT_PARAMS == {"search_type": "dfs_query_then_fetch"}


def test_nothing_to_rank_sends_nothing() -> None:
    for rank in (LabelRank(()), TextRank((), ("a",)), TextRank(("caption",), ())):
        assert rank_body(RankRequest("m", rank), ir.MatchAll()) is None
    assert rank_body(RankRequest("m", LabelRank((("a", 1.0),))), ir.MatchNone()) is None


def test_feature_values_are_lucenes_nine_bit_floats() -> None:
    assert schema.feature_value(0.5) == 0.5 and schema.feature_value(1.0) == 1.0
    assert schema.feature_value(0.71) == 0.708984375  # truncated, as OpenSearch scored it
    assert schema.feature_value(0.0) == 0.0 and schema.feature_value(-1.0) == 0.0
    for x in (0.02, 0.3, 0.6, 0.97):
        assert x * (1 - 2**-8) <= schema.feature_value(x) <= x


def test_concept_score_uses_the_stored_values_each_label_once() -> None:
    pairs = [("tabby", 0.71), ("tabby", 0.2), ("tiger cat", 0.3)]
    score = schema.concept_score(pairs, {"tabby": 2.0, "tiger cat": 1.0})
    assert score == pytest.approx(2 * 0.708984375 + schema.feature_value(0.3))


def test_writes_with_labels_carry_the_label_rank_as_a_list() -> None:
    update = DocUpdate("a", {"visual": {"labels": ["tabby", "x.y"], "label_scores": [0.7, 0.1]}})
    doc = _with_label_rank(update).doc
    assert doc["visual"]["label_rank"] == [{"tabby": 0.7}, {"x%2Ey": 0.1}]
    untouched = DocUpdate("b", {"caption": "hi", "visual": {"model": "m"}})
    assert _with_label_rank(untouched) is untouched
    source = {"visual": {"label_rank": [{"old": 1.0}], "model": "m"}}
    assert label_rank_of(source) == {"visual": {"model": "m"}}  # labels gone: rank gone
    source = {"visual": {"labels": ["cat"], "label_scores": [0.0], "label_rank": [{"old": 1.0}]}}
    assert label_rank_of(source)["visual"]["label_rank"] == []  # Lucene refuses a 0 feature
