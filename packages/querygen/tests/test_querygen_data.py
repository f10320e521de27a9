import json
import random
from collections import Counter

import pytest

from dltheory.core.errors import DatasetNotFoundError, DltheoryError
from dltheory.querygen.data import (
    DatasetFormatError,
    Utterance,
    load_chatterbot,
    load_labelled_file,
    load_reservoir,
    load_snips,
    parse_snips_json,
    read_text_tolerant,
    stratified_subset,
    utterance_from_bio,
    word_tokenize,
    write_jsonl,
)
from dltheory.querygen.slots import SurfaceRealiser, delexicalise

SNIPS_DOC = {
    "PlayMusic": [
        {
            "data": [
                {"text": "play "},
                {"text": "Hey Jude", "entity": "track"},
                {"text": " by "},
                {"text": "the Beatles", "entity": "artist"},
                {"text": " on "},
                {"text": "Spotify", "entity": "service"},
            ]
        },
        {
            "data": [
                {"text": "I'd like some "},
                {"text": "jazz", "entity": "genre"},
                {"text": " please!"},
            ]
        },
    ]
}


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_snips_chunks_text_and_bio(tmp_path):
    rows = parse_snips_json(write(tmp_path / "f.json", json.dumps(SNIPS_DOC)))
    assert [u.intent for u in rows] == ["PlayMusic", "PlayMusic"]
    u = rows[0]
    assert u.text == "play Hey Jude by the Beatles on Spotify"
    assert u.tokens == ["play", "hey", "jude", "by", "the", "beatles", "on", "spotify"]
    assert u.bio == ["O", "B-track", "I-track", "O", "B-artist", "I-artist", "O", "B-service"]
    assert rows[1].tokens == ["i'd", "like", "some", "jazz", "please", "!"]
    assert delexicalise(u).normalised == "play _track_ by _artist_ on _service_"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"PlayMusic": [\n  {"data": [\n    {"text": "play"\n  ]}\n]}', ":4: invalid JSON"),
        ('{"PlayMusic": []}', "no utterance list"),
        ('{"PlayMusic": [{"data": [{"text": "ok"}]},\n {"nodata": 1}]}', "utterance 1"),
        ('{"PlayMusic": [{"data": [{"text": "  "}]}]}', "is empty"),
        ("[1, 2]", "expected an object"),
        ("", "invalid JSON"),
    ],
)
def test_snips_malformed_files_name_file_and_line(tmp_path, content, fragment):
    path = write(tmp_path / "bad.json", content)
    with pytest.raises(DatasetFormatError) as err:
        parse_snips_json(path)
    msg = str(err.value)
    assert str(path) in msg
    assert fragment in msg
    assert "\n" not in msg
    assert getattr(err.value, "dltheory_user_error", False)


def test_cesu8_surrogates_are_joined(tmp_path):
    # U+1F355 written as two 3-byte surrogates (CESU-8), as in SNIPS' train_PlayMusic_full.json
    pizza = "\ud83c\udf55".encode("utf-8", "surrogatepass")
    raw = (
        b'{"PlayMusic": [{"data": [{"text": "play "}, {"text": "Pop '
        + pizza
        + b'", "entity": "playlist"}]}]}'
    )
    path = write(tmp_path / "cesu.json", raw)
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "\U0001f355" in read_text_tolerant(path)
    assert parse_snips_json(path)[0].slots == [("playlist", "pop \U0001f355")]


def test_load_snips_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "nope")):
        load_snips(tmp_path / "nope")


def test_real_snips_sizes_and_playmusic_file(snips_dir):
    full = load_snips(snips_dir, "train_full")
    valid = load_snips(snips_dir, "validate")
    assert len(full) == 13784
    assert len(valid) == 700
    counts = Counter(u.intent for u in full)
    assert len(counts) == 7
    assert min(counts.values()) >= 1942
    assert max(counts.values()) <= 2000
    assert any(ord(c) > 0xFFFF for u in full if u.intent == "PlayMusic" for c in u.text)
    slots = {s for u in full if u.intent == "BookRestaurant" for s, _ in u.slots}
    assert len(slots) == 14


def test_csv_and_jsonl_loaders_and_bio_round_trip(tmp_path):
    csv_path = write(
        tmp_path / "d.csv",
        'text,intent,slots\n"play jazz now",PlayMusic,O B-genre O\nhello,Greet,\n',
    )
    rows = load_labelled_file(csv_path)
    assert rows[0].slots == [("genre", "jazz")]
    assert rows[0].bio == ["O", "B-genre", "O"]
    assert rows[1].intent == "Greet"
    assert rows[1].bio == ["O"]
    out = write_jsonl(rows, tmp_path / "d.jsonl")
    again = load_labelled_file(out)
    assert [(u.normalised, u.intent, u.bio) for u in again] == [
        (u.normalised, u.intent, u.bio) for u in rows
    ]


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("a.csv", "sentence,label\nx,y\n", ":1: CSV header"),
        ("b.csv", "text,intent\nplay,Music\n ,Music\n", ":3: empty or missing 'text'"),
        ("c.csv", "text,intent,slots\nplay jazz,Music,O\n", ":2: 2 words but 1 slot tags"),
        ("d.jsonl", '{"text": "a", "intent": "x"}\n{"text": "b", "intent": \n', ":2: invalid JSON"),
        (
            "e.jsonl",
            '{"text": "a", "intent": "x"}\n\n{"text": "b"}\n',
            ":3: empty or missing 'intent'",
        ),
        (
            "f.jsonl",
            '{"text": "play it", "intent": "x", "slots": ["O", "X-foo"]}\n',
            ":1: bad slot tag",
        ),
        ("g.jsonl", "\n\n", ":1: no rows"),
        ("h.txt", "x", "unsupported extension"),
    ],
)
def test_labelled_file_errors(tmp_path, name, content, fragment):
    path = write(tmp_path / name, content)
    with pytest.raises(DltheoryError) as err:
        load_labelled_file(path)
    assert str(path) in str(err.value)
    assert fragment in str(err.value)


def test_utterance_from_bio_adjacent_slots():
    u = utterance_from_bio(
        ["rate", "it", "5", "stars"], ["O", "O", "B-rating_value", "B-rating_unit"], "Rate"
    )
    assert u.text == "rate it 5 stars"
    assert u.slots == [("rating_value", "5"), ("rating_unit", "stars")]
    assert u.bio == ["O", "O", "B-rating_value", "B-rating_unit"]


def test_delexicalise_realise_round_trip_on_snips(snips_dir):
    rows = load_snips(snips_dir, "validate")
    checked = 0
    for u in rows:
        if len({s for s, _ in u.slots}) != len(u.slots):
            continue  # a slot used twice: the realiser would choose among both values
        r = SurfaceRealiser([u]).realise(delexicalise(u).tokens, u.intent, random.Random(0))
        assert r.normalised == u.normalised
        assert r.bio == u.bio
        assert r.slots == u.slots
        checked += 1
    assert checked > 600


def test_realiser_draws_values_and_tags():
    train = [
        Utterance((("play ", None), ("jazz", "genre")), "M"),
        Utterance((("play ", None), ("hip hop", "genre")), "M"),
    ]
    realiser = SurfaceRealiser(train)
    seen = Counter()
    for seed in range(40):
        r = realiser.realise(["play", "some", "_genre_", "_genre_"], "M", random.Random(seed))
        assert r.tokens[:2] == ["play", "some"]
        assert r.bio[:2] == ["O", "O"]
        assert r.bio[2] == "B-genre"
        assert all(t.endswith("genre") for t in r.bio[2:])
        seen[" ".join(r.tokens[2:])] += 1
    assert len(seen) == 4  # both values in both positions occur


def test_stratified_subset_balanced_and_seeded():
    rows = [
        Utterance.plain(f"q {k} {i}", k)
        for k, n in (("a", 50), ("b", 50), ("c", 5))
        for i in range(n)
    ]
    sub = stratified_subset(rows, 40, seed=3)
    counts = Counter(u.intent for u in sub)
    assert counts["c"] == 5
    assert abs(counts["a"] - counts["b"]) <= 1
    assert sum(counts.values()) == 40
    assert len({u.text for u in sub}) == 40
    assert sub == stratified_subset(rows, 40, seed=3)
    assert sub != stratified_subset(rows, 40, seed=4)
    with pytest.raises(DltheoryError):
        stratified_subset(rows, 1000)


def test_reservoir_jsonl_and_folder(tmp_path):
    jl = write(
        tmp_path / "r.jsonl",
        '{"text": "book a table", "group": "Restaurants"}\n'
        '{"text": "wake me up", "intent": "Alarm"}\n',
    )
    rows = load_reservoir(jl)
    assert [(u.group, u.intent) for u in rows] == [("Restaurants", "None"), ("Alarm", "None")]
    folder = tmp_path / "res"
    folder.mkdir()
    write(folder / "Alarm.txt", "wake me up\n\nset an alarm\n")
    assert [u.normalised for u in load_reservoir(folder)] == ["wake me up", "set an alarm"]
    write(folder / "Empty.txt", "\n \n")
    with pytest.raises(DatasetFormatError, match=r"Empty\.txt:1"):
        load_reservoir(folder)
    bad = write(tmp_path / "bad.jsonl", '{"text": "x", "group": "a"}\n{"text": "y"}\n')
    with pytest.raises(DatasetFormatError, match=r"bad\.jsonl:2"):
        load_reservoir(bad)
    with pytest.raises(DatasetNotFoundError):
        load_reservoir(tmp_path / "missing")


def test_chatterbot_offline_default():
    rows = load_chatterbot()
    counts = Counter(u.intent for u in rows)
    assert len(counts) == 21
    assert counts["trivia"] > 200
    assert sum(counts.values()) > 700
    assert all(u.tokens for u in rows)
    assert word_tokenize("What's AI?") == ["what's", "ai", "?"]
