"""Exports checked against the formats' documented schemas; input cases; per-intent slot values."""

import json
import random
import re

import pytest
import yaml

from dltheory.querygen.data import Utterance, load_labelled_file, parse_snips_json
from dltheory.querygen.export import export_queries
from dltheory.querygen.slots import SlotValuesError, SurfaceRealiser, load_slot_values

UTTERANCES = [
    Utterance(
        (("Play ", None), ("Beyoncé", "artist"), (" on ", None), ("Spotify", "service")),
        "PlayMusic",
    ),
    Utterance((("will it rain in ", None), ("New York City", "city"), ("?", None)), "GetWeather"),
    Utterance((("add ", None), ("Muse", "artist"), ("'s song", None)), "AddToPlaylist"),
    Utterance.plain("Hello there", "Greet"),
]

# Rasa's entity annotation syntax (rasa/shared/nlu/training_data/entities_parser.py, documented
# as [entity text](entity_type) / {"entity": ...} / [..]{..}); we write the first form only.
RASA_ENTITY = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\})"
)


def parse_rasa_example(line: str) -> tuple[str, list[tuple[str, str]]]:
    """Plain text and (value, entity) pairs, as Rasa reads an example line."""
    entities = [(m["entity_text"], m["entity"]) for m in RASA_ENTITY.finditer(line)]
    plain = RASA_ENTITY.sub(lambda m: m["entity_text"], line)
    return plain, entities


def test_rasa_yaml_follows_the_training_data_format(tmp_path):
    path = export_queries(UTTERANCES, tmp_path / "nlu.yml")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(doc) == {"version", "nlu"}
    assert isinstance(doc["version"], str)
    assert doc["version"].startswith("3.")
    assert all(set(item) == {"intent", "examples"} for item in doc["nlu"])
    by_intent = {item["intent"]: item["examples"] for item in doc["nlu"]}
    assert list(by_intent) == [u.intent for u in UTTERANCES]
    for u in UTTERANCES:
        lines = by_intent[u.intent].splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("- ")
        plain, entities = parse_rasa_example(lines[0][2:])
        assert plain == " ".join(u.text.split())  # original casing, same text
        assert entities == [(v, s) for s, v in u.raw_slots]


def test_snips_nlu_dataset_follows_the_documented_schema(tmp_path):
    path = export_queries(UTTERANCES, tmp_path / "dataset.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {"language", "intents", "entities"}
    assert doc["language"] == "en"
    used = set()
    for intent in doc["intents"].values():
        assert set(intent) == {"utterances"}
        for utt in intent["utterances"]:
            for chunk in utt["data"]:
                assert isinstance(chunk["text"], str)
                assert set(chunk) in ({"text"}, {"text", "entity", "slot_name"})
                used |= {chunk["entity"]} if "entity" in chunk else set()
    assert set(doc["entities"]) == used  # every entity an utterance uses is declared
    for ent in doc["entities"].values():
        assert set(ent) == {
            "data",
            "use_synonyms",
            "automatically_extensible",
            "matching_strictness",
        }
        assert all(set(v) == {"value", "synonyms"} for v in ent["data"])
        assert isinstance(ent["matching_strictness"], float)
    back = parse_snips_json(path)  # snips-nlu files are also accepted by --data
    assert [u.text for u in back] == [u.text for u in UTTERANCES]
    assert [u.raw_slots for u in back] == [u.raw_slots for u in UTTERANCES]
    assert [u.intent for u in back] == [u.intent for u in UTTERANCES]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_bio_exports_round_trip_with_casing(tmp_path, suffix):
    path = export_queries(UTTERANCES, tmp_path / f"gen{suffix}")
    back = load_labelled_file(path)
    assert [u.bio for u in back] == [u.bio for u in UTTERANCES]
    assert [u.raw_slots for u in back] == [u.raw_slots for u in UTTERANCES]
    assert [u.cased_tokens for u in back] == [u.cased_tokens for u in UTTERANCES]
    assert "Beyoncé" in path.read_text(encoding="utf-8")


def test_csv_with_byte_order_mark_and_semicolons(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes("text,intent\nWake me up,Alarm\nPlay Jazz,Music\n".encode("utf-8-sig"))
    semi = tmp_path / "semi.csv"
    semi.write_text("text;intent;slots\nPlay Jazz now;Music;O B-genre O\nHi, you;Greet;\n")
    rows = load_labelled_file(bom)
    assert [(u.text, u.intent) for u in rows] == [("Wake me up", "Alarm"), ("Play Jazz", "Music")]
    rows = load_labelled_file(semi)
    assert rows[0].raw_slots == [("genre", "Jazz")]
    assert (rows[1].text, rows[1].intent) == ("Hi, you", "Greet")


def test_single_snips_benchmark_file_as_data(tmp_path):
    path = tmp_path / "train_PlayMusic.json"
    path.write_text(
        json.dumps(
            {"PlayMusic": [{"data": [{"text": "play "}, {"text": "Adele", "entity": "artist"}]}]}
        )
    )
    rows = load_labelled_file(path)
    assert [(u.text, u.intent, u.raw_slots) for u in rows] == [
        ("play Adele", "PlayMusic", [("artist", "Adele")])
    ]


def test_slot_values_are_drawn_per_intent():
    train = [
        Utterance((("play ", None), ("Adele", "artist")), "PlayMusic"),
        Utterance((("add ", None), ("Muse", "artist"), (" to my list", None)), "AddToPlaylist"),
        Utterance((("weather in ", None), ("Paris", "city")), "GetWeather"),
    ]
    r = SurfaceRealiser(train)
    rng = random.Random(0)
    values = {r.realise(["play", "_artist_"], "PlayMusic", rng).raw_slots[0][1] for _ in range(50)}
    assert values == {"Adele"}  # never Muse, the other intent's artist
    # an intent without that slot falls back to the pooled values
    pooled = {r.realise(["_artist_"], "GetWeather", rng).raw_slots[0][1] for _ in range(50)}
    assert pooled == {"Adele", "Muse"}


def test_slot_values_file_json_and_csv(tmp_path):
    r = SurfaceRealiser([Utterance((("play ", None), ("Adele", "artist")), "PlayMusic")])
    path = tmp_path / "values.json"
    path.write_text(json.dumps({"PlayMusic": {"artist": ["Nina Simone"]}, "city": ["Oslo"]}))
    load_slot_values(path, r)
    rng = random.Random(0)
    assert r.realise(["_artist_"], "PlayMusic", rng).raw_slots == [("artist", "Nina Simone")]
    assert r.realise(["in", "_city_"], "X", rng).raw_slots == [("city", "Oslo")]
    csv_path = tmp_path / "values.csv"
    csv_path.write_text("intent,slot,value\n,artist,Björk\n")
    load_slot_values(csv_path, r)
    assert r.realise(["_artist_"], "PlayMusic", rng).raw_slots == [("artist", "Björk")]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,value\nx,y\n")
    with pytest.raises(SlotValuesError, match="'slot' and 'value'"):
        load_slot_values(bad, r)
    with pytest.raises(SlotValuesError, match="not found"):
        load_slot_values(tmp_path / "missing.json", r)
