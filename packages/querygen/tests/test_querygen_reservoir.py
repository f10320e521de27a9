"""The reservoir never shares a sentence with the target task; folds; the input-case warnings."""

import pytest

from dltheory.core.errors import DltheoryError
from dltheory.querygen.config import TrainConfig
from dltheory.querygen.data import (
    NONE_INTENT,
    QueryGenWarning,
    Utterance,
    drop_leaks,
    fold_intents,
    load_snips,
)
from dltheory.querygen.pipeline import prepare_data
from dltheory.querygen.slots import delexicalise
from dltheory.querygen.transfer import transfer_queries


def test_fold_intents_partition_every_intent_once():
    names = [f"I{k}" for k in range(7)]
    folds = [fold_intents(names, 3, f) for f in range(3)]
    assert sorted(n for f in folds for n in f) == names
    assert fold_intents(names, 1, 0) == names
    with pytest.raises(DltheoryError, match="fold must be"):
        fold_intents(names, 2, 2)
    with pytest.raises(DltheoryError, match="at least 4 intents"):
        fold_intents(names[:3], 3, 0)


def test_drop_leaks_removes_equal_sentences_raw_and_delexicalised():
    target = [
        Utterance((("play ", None), ("Adele", "artist")), "PlayMusic"),
        Utterance.plain("What is the weather", "GetWeather"),
    ]
    reservoir = [
        Utterance.plain("what is the WEATHER", NONE_INTENT, "chat"),  # same words
        Utterance((("play ", None), ("Muse", "artist")), NONE_INTENT, "Add"),  # same delex
        Utterance.plain("tell me a joke", NONE_INTENT, "chat"),
    ]
    delex = lambda u: delexicalise(u).normalised  # noqa: E731
    kept = drop_leaks(reservoir, target, keys=(delex,))
    assert [u.normalised for u in kept] == ["tell me a joke"]
    assert len(drop_leaks(reservoir, target)) == 2  # without the delexicalised key


@pytest.mark.parametrize("fold", [0, 1])
def test_no_reservoir_sentence_equals_a_target_intent_sentence(snips_dir, fold):
    cfg = TrainConfig(data=str(snips_dir), fold=fold, folds=2, method="query_transfer")
    prepared = prepare_data(cfg)
    targets = set(prepared.intents)
    every = load_snips(snips_dir, "train_full") + load_snips(snips_dir, "validate")
    target_rows = [u for u in every if u.intent in targets]
    raw = {u.normalised for u in target_rows}
    delex = {delexicalise(u).normalised for u in target_rows}
    assert prepared.reservoir
    assert not [u for u in prepared.reservoir if u.normalised in raw]
    assert not [u for u in prepared.reservoir if delexicalise(u).normalised in delex]
    groups = {u.group for u in prepared.reservoir}
    assert not groups & targets  # no target intent is a reservoir group
    assert {g for g in groups if not g.startswith("chatterbot/")} == (
        {u.intent for u in every} - targets
    )
    assert all(u.group in prepared.selection.kept for u in prepared.selection.added)
    assert all(u.intent in (*targets, NONE_INTENT) for u in prepared.training)


def test_zero_transferred_warns():
    train = [Utterance.plain(t, "A") for t in ("wake me up at six", "set an alarm")]
    reservoir = [Utterance.plain("the cat sat on the mat", NONE_INTENT, "g")]
    with pytest.warns(QueryGenWarning, match="0 queries are transferred"):
        sel = transfer_queries(train, reservoir, "query_transfer", threshold=0.99)
    assert sel.added == []
    with pytest.warns(QueryGenWarning, match="reservoir is empty"):
        transfer_queries(train, [], "query_transfer")


def test_intent_with_one_example_warns_and_is_kept_for_training(tmp_path):
    rows = ["text,intent"] + [f"set an alarm for {h} am,Alarm" for h in range(1, 13)]
    rows += [f"play song number {k},Music" for k in range(12)] + ["what time is it,Time"]
    path = tmp_path / "few.csv"
    path.write_text("\n".join(rows) + "\n")
    cfg = TrainConfig(data=str(path), folds=1, method="none", train_size=15)
    with pytest.warns(QueryGenWarning, match="'Time' has a single example"):
        prepared = prepare_data(cfg)
    assert "Time" in prepared.intents
    assert [u.intent for u in prepared.full_train].count("Time") == 1
