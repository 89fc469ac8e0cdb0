"""Labels as events: batches, current labels, undo/revert, conflicts, claims, export; and the
ranking helpers of the labelling loop (re-ranking, suggestions, auto-accept thresholds)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from clipcore.catalog import labels as lbl
from clipcore.team import ranking
from clipcore.errors import InputError
from clipcore.catalog.store import EmbeddingMatrix

ODD_NAMES = ['say "hi" it\'s', "<b>bold</b> & <script>alert(1)</script>", "日本の版画", "Ελληνικά/ñ\\..", ".."]


def _ids(ws, n=None):
    ids = [int(i) for i in ws.image_ids()]
    return ids if n is None else ids[:n]


def test_batch_assigns_and_rejects_with_provenance(workspace):
    ids = _ids(workspace, 6)
    batch = lbl.record_batch(
        workspace, "cover", ids[:4], annotator="alice", source={"kind": "text", "query": "a cover"}, rejected_ids=ids[4:]
    )
    assert lbl.current_labels(workspace) == {i: "cover" for i in ids[:4]}
    rows = lbl.current_label_rows(workspace)
    assert [r["id"] for r in rows] == ids[:4]
    assert {r["annotator"] for r in rows} == {"alice"} and {r["batch_id"] for r in rows} == {batch}
    assert all(r["path"].endswith(".jpg") for r in rows)
    assert lbl.rejected_for(workspace, "cover") == set(ids[4:])
    assert lbl.rejected_for(workspace, "text") == set()
    (b,) = lbl.list_batches(workspace)
    assert (b["batch_id"], b["size"], b["rejected"], b["source"]) == (batch, 4, 2, {"kind": "text", "query": "a cover"})
    assert lbl.describe_source(b["source"]) == "text: 'a cover'"


def test_latest_event_wins_and_revert_round_trips(workspace):
    a, b = _ids(workspace, 2)
    first = lbl.record_batch(workspace, "text", [a, b], annotator="alice", source={"kind": "cli"})
    second = lbl.record_batch(workspace, "cover", [a], annotator="bob", source={"kind": "cli"})
    assert lbl.current_labels(workspace) == {a: "cover", b: "text"}
    assert lbl.last_batch(workspace, "bob")["batch_id"] == second

    assert lbl.revert_batch(workspace, second, annotator="alice") == 1
    assert lbl.current_labels(workspace) == {a: "text", b: "text"}
    assert lbl.revert_batch(workspace, second, annotator="alice") == 0  # idempotent
    assert lbl.last_batch(workspace, "bob") is None

    assert lbl.revert_batch(workspace, first, annotator="carol") == 2
    assert lbl.current_labels(workspace) == {}
    history = lbl.label_history(workspace)
    assert len(history) == 3  # nothing is ever deleted
    assert {h["reverted_by"] for h in history} == {"alice", "carol"}
    assert lbl.label_progress(workspace)["unlabelled"] == workspace.counts()["images"]


def test_bad_batches_are_refused_and_write_nothing(workspace):
    ids = _ids(workspace, 3)
    with pytest.raises(InputError, match="unknown or missing image id"):
        lbl.record_batch(workspace, "cover", [ids[0], 999_999], annotator="alice", source={})
    with pytest.raises(InputError, match="both assigned and rejected"):
        lbl.record_batch(workspace, "cover", ids[:2], annotator="alice", source={}, rejected_ids=ids[1:])
    with pytest.raises(InputError, match="at least one image"):
        lbl.record_batch(workspace, "cover", [], annotator="alice", source={})
    with pytest.raises(InputError, match="class name is empty"):
        lbl.record_batch(workspace, "  ", ids, annotator="alice", source={})
    with pytest.raises(InputError, match="one line"):
        lbl.record_batch(workspace, "a\nb", ids, annotator="alice", source={})
    with pytest.raises(InputError, match="annotator"):
        lbl.record_batch(workspace, "cover", ids, annotator="", source={})
    with pytest.raises(InputError, match="no label batch"):
        lbl.revert_batch(workspace, "nope", annotator="alice")
    assert lbl.list_batches(workspace) == [] and lbl.label_history(workspace) == []


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_class_names_round_trip(workspace, tmp_path, name):
    ids = _ids(workspace, 3)
    lbl.record_batch(workspace, name, ids, annotator="Zoë <admin>", source={"kind": "text", "query": name})
    assert set(lbl.current_labels(workspace).values()) == {name}
    parsed = list(csv.DictReader(io.StringIO(lbl.labels_csv(workspace))))
    assert [r["class"] for r in parsed] == [name] * 3 and parsed[0]["annotator"] == "Zoë <admin>"
    doc = json.loads(lbl.labels_json(workspace, history=True))
    assert {e["class"] for e in doc["events"]} == {name}
    assert doc["batches"][0]["source"]["query"] == name

    report = lbl.export_labels(workspace, tmp_path / "out", "folders")
    (folder,) = [p for p in (tmp_path / "out").iterdir()]
    assert folder.parent == tmp_path / "out"  # no path escape through '/', '\\' or '..'
    assert folder.name == lbl.folder_name(name) and folder.name not in (".", "..")
    assert report["files"] == 3 and len(list(folder.iterdir())) == 3
    assert report["classes"] == {name: 3}


def test_export_csv_json_files_current_and_history(workspace, tmp_path):
    ids = _ids(workspace, 4)
    batch = lbl.record_batch(workspace, "text", ids[:2], annotator="alice", source={}, rejected_ids=ids[2:3])
    lbl.record_batch(workspace, "cover", ids[3:], annotator="bob", source={})
    lbl.revert_batch(workspace, batch, annotator="bob")
    assert lbl.export_labels(workspace, tmp_path, "csv")["labels"] == 1
    rows = list(csv.DictReader((tmp_path / "labels.csv").open(encoding="utf-8")))
    assert [(int(r["id"]), r["class"], r["annotator"]) for r in rows] == [(ids[3], "cover", "bob")]
    lbl.export_labels(workspace, tmp_path, "json", history=True)
    events = json.loads((tmp_path / "labels-history.json").read_text(encoding="utf-8"))["events"]
    assert [(e["kind"], e["reverted_by"]) for e in events] == [("assign", "bob")] * 2 + [("reject", "bob"), ("assign", None)]
    with pytest.raises(InputError, match="format"):
        lbl.export_labels(workspace, tmp_path, "xml")
    with pytest.raises(InputError, match="current labels only"):
        lbl.export_labels(workspace, tmp_path, "folders", history=True)


def test_conflicts_found_resolved_and_reopened_by_revert(workspace):
    a, b, c, d = _ids(workspace, 4)
    lbl.record_batch(workspace, "text", [a, b, c], annotator="alice", source={})
    lbl.record_batch(workspace, "cover", [a], annotator="bob", source={})  # disagree on the class
    lbl.record_batch(workspace, "illustration", [d], annotator="bob", source={}, rejected_ids=[b])  # b: no conflict (other class)
    lbl.record_batch(workspace, "text", [d], annotator="bob", source={}, rejected_ids=[c])  # c: bob says "not text"
    lbl.record_batch(workspace, "cover", [d], annotator="bob", source={})  # d: one person changing their mind
    conflicts = {x.image_id: x for x in lbl.find_conflicts(workspace)}
    assert set(conflicts) == {a, c}
    assert conflicts[a].votes == {"assign: text": ["alice"], "assign: cover": ["bob"]}
    assert conflicts[a].current == "cover"
    assert conflicts[c].votes == {"assign: text": ["alice"], "reject: text": ["bob"]}

    resolution = lbl.resolve_conflicts(workspace, [a, c], "text", annotator="carol")
    assert lbl.find_conflicts(workspace) == []
    assert lbl.current_labels(workspace)[a] == "text"
    lbl.revert_batch(workspace, resolution, annotator="carol")
    assert {x.image_id for x in lbl.find_conflicts(workspace)} == {a, c}


def test_claims_split_a_ranking_between_annotators(workspace):
    ranked = _ids(workspace, 12)
    mine = lbl.claim_images(workspace, ranked, 5, annotator="alice")
    theirs = lbl.claim_images(workspace, ranked, 5, annotator="bob")
    assert mine == ranked[:5] and theirs == ranked[5:10]
    assert lbl.claim_images(workspace, ranked, 5, annotator="alice") == mine  # own claims renew
    assert lbl.claimed_by_others(workspace, "alice") == set(theirs)
    lbl.record_batch(workspace, "text", theirs[:2], annotator="bob", source={}, rejected_ids=theirs[2:3])
    assert lbl.claimed_by_others(workspace, "alice") == set(theirs[3:])  # deciding releases the claim
    assert lbl.release_claims(workspace, "bob") == 2
    # Expired claims are free for anyone.
    lbl.claim_images(workspace, ranked, 3, annotator="carol", ttl_s=-1)
    assert lbl.claim_images(workspace, ranked, 7, annotator="dave") == [i for i in ranked if i not in mine][:7]


def test_pace_counts_recent_decisions_per_minute(workspace):
    ids = _ids(workspace, 30)
    lbl.record_batch(workspace, "text", ids[:20], annotator="alice", source={}, rejected_ids=ids[20:30])
    lbl.record_batch(workspace, "cover", ids[:5], annotator="bob", source={})
    later = datetime.now(timezone.utc) + timedelta(minutes=3)
    stats = {s["annotator"]: s for s in lbl.annotator_stats(workspace, now=later)}
    assert stats["alice"]["decided"] == 30 and stats["alice"]["current"] == 15  # bob relabelled 5 of them
    assert stats["alice"]["pace_per_min"] == pytest.approx(10.0, abs=0.2)  # 30 decisions in ~3 minutes
    assert lbl.annotator_stats(workspace, now=later + timedelta(hours=1))[0]["pace_per_min"] == 0.0


# -- ranking --------------------------------------------------------------------------


def _clusters(seed: int = 0) -> tuple[EmbeddingMatrix, dict[int, str]]:
    """Three well separated clusters of 20 unit vectors, ids 1..60; truth by cluster."""
    rng = np.random.default_rng(seed)
    centres = np.eye(8, dtype=np.float32)[:3]
    vecs = np.concatenate([c + 0.15 * rng.standard_normal((20, 8)).astype(np.float32) for c in centres])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, 61, dtype=np.int64)
    truth = {int(i): ["a", "b", "c"][(i - 1) // 20] for i in ids}
    return EmbeddingMatrix("synthetic", ids, vecs.astype(np.float32)), truth


def test_rank_candidates_excludes_and_learns_from_labels():
    matrix, truth = _clusters()
    # A poor query: halfway between clusters a and b, so its top 20 mixes both.
    query = matrix.vectors[0] + matrix.vectors[25]
    base = ranking.cosine_scores(matrix, query / np.linalg.norm(query))
    plain = ranking.rank_candidates(matrix, base, limit=10, exclude=[1, 2])
    assert 1 not in [r.id for r in plain] and 2 not in [r.id for r in plain]
    assert [r.score for r in plain] == sorted((r.score for r in plain), reverse=True)

    labels = {i: truth[i] for i in (3, 4, 5, 41, 42)}  # a few of a, a few of c
    rejected = [21, 22, 23]  # deselected for class a: they are b
    scorer = ranking.fit_class_scorer(matrix, labels, "a", rejected)
    assert scorer is not None and (scorer.n_positive_, scorer.n_negative_) == (3, 5)
    learned = ranking.rank_candidates(matrix, base, limit=10, exclude=set(labels) | set(rejected), scorer=scorer)
    assert all(truth[r.id] == "a" for r in learned)
    assert sum(truth[r.id] == "a" for r in plain) < 10  # the re-ranking is what made the page pure
    assert ranking.fit_class_scorer(matrix, {3: "a"}, "a") is None  # no negative yet


def test_precision_threshold_picks_lowest_confidence_reaching_target():
    conf = np.array([0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6])
    ok = np.array([True, True, True, True, False, True, False])
    assert ranking.precision_threshold(conf, ok, 1.0, min_support=2) == (0.9, 1.0, 4)
    t, p, n = ranking.precision_threshold(conf, ok, 0.8, min_support=2)
    assert (t, n) == (0.7, 6) and p == pytest.approx(5 / 6)
    assert ranking.precision_threshold(conf, ok, 1.0, min_support=5) is None
    tied = ranking.precision_threshold(np.array([0.9, 0.9, 0.5]), np.array([True, False, True]), 1.0, min_support=1)
    assert tied is None  # the cut may not split equal confidences
    with pytest.raises(InputError):
        ranking.precision_threshold(conf, ok, 1.5)


def test_auto_accept_plans_and_few_shot_suggestions():
    matrix, truth = _clusters(1)
    labels = {i: truth[i] for i in list(range(1, 9)) + list(range(21, 29)) + list(range(41, 49))}
    probs = ranking.few_shot_probabilities(matrix, labels)
    assert probs.honest and probs.classes == ["a", "b", "c"]
    assert probs.proba.shape == (60, 3) and np.allclose(probs.proba.sum(axis=1), 1, atol=1e-5)
    assert probs.suggest([10, 30])[10][0] == "a" and probs.suggest([10, 30])[30][0] == "b"
    plans = {p.label: p for p in ranking.plan_auto_accept(probs, labels, 0.98, min_support=5, exclude=[10])}
    assert plans["a"].threshold is not None and plans["a"].precision >= 0.98
    assert plans["a"].image_ids and 10 not in plans["a"].image_ids
    assert all(truth[i] == "a" and i not in labels for i in plans["a"].image_ids)
    assert not ranking.few_shot_probabilities(matrix, labels, out_of_fold=False).honest
    with pytest.raises(InputError, match="fitted on the labels"):
        ranking.plan_auto_accept(ranking.few_shot_probabilities(matrix, labels, out_of_fold=False), labels, 0.9)
    with pytest.raises(InputError, match="at least 2 classes"):
        ranking.few_shot_probabilities(matrix, {1: "a", 2: "a"})


def test_rank_by_query_goes_through_the_index_and_learns_from_labels():
    from clipcore.retrieval.index import ExactIndex

    matrix, truth = _clusters()
    index = ExactIndex(matrix)
    query = matrix.vectors[0] + matrix.vectors[25]
    query /= np.linalg.norm(query)
    plain = ranking.rank_by_query(index, query, limit=10, exclude=[1, 2])
    base = ranking.cosine_scores(matrix, query)
    assert [r.id for r in plain] == [r.id for r in ranking.rank_candidates(matrix, base, limit=10, exclude=[1, 2])]

    labels = {i: truth[i] for i in (3, 4, 5, 41, 42)}
    rejected = [21, 22, 23]
    scorer = ranking.fit_class_scorer(matrix, labels, "a", rejected)
    learned = ranking.rank_by_query(index, query, limit=10, exclude=set(labels) | set(rejected), scorer=scorer, pool=12)
    assert len(learned) == 10 and all(truth[r.id] == "a" for r in learned)
    assert not {r.id for r in learned} & (set(labels) | set(rejected))
    assert [r.score for r in learned] == sorted((r.score for r in learned), reverse=True)


def test_a_batch_is_reverted_by_the_short_id_the_history_shows(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    first = lbl.record_batch(workspace, "cover", ids[:2], annotator="alice", source={})
    second = lbl.record_batch(workspace, "text", ids[2:3], annotator="alice", source={})
    assert lbl.revert_batch(workspace, f"  {first[:8].upper()} ", annotator="alice") == 2
    assert [b["batch_id"] for b in lbl.list_batches(workspace) if b["reverted_at"]] == [first]
    with pytest.raises(InputError, match="first 6"):
        lbl.revert_batch(workspace, second[:3], annotator="alice")  # too short to be unambiguous
    with pytest.raises(InputError, match="no label batch"):
        lbl.revert_batch(workspace, "%_%_%_", annotator="alice")  # no wildcard matching
    assert not any(b["reverted_at"] for b in lbl.list_batches(workspace) if b["batch_id"] == second)


def test_a_prefix_two_batches_share_is_refused(workspace, monkeypatch):
    ids = [int(i) for i in workspace.image_ids()]
    made = iter(["abcdef0011", "abcdef0022"])
    monkeypatch.setattr(lbl.uuid, "uuid4", lambda: type("U", (), {"hex": next(made)})())
    a = lbl.record_batch(workspace, "cover", ids[:1], annotator="alice", source={})
    lbl.record_batch(workspace, "text", ids[1:2], annotator="alice", source={})
    with pytest.raises(InputError, match="more than one batch"):
        lbl.revert_batch(workspace, "abcdef", annotator="alice")
    assert lbl.revert_batch(workspace, "abcdef001", annotator="alice") == 1
    assert [b["batch_id"] for b in lbl.list_batches(workspace) if b["reverted_at"]] == [a]


def test_relabelled_by_others_counts_colleagues_overwrites_since_an_event(workspace):
    from clipcore.catalog import labels as lbl

    ids = sorted(workspace.ground_truth())[:6]
    lbl.record_batch(workspace, "cover", ids, annotator="alice", source={"kind": "cli"})
    assert lbl.relabelled_by_others(workspace, "alice")[0] == {}
    batch = lbl.record_batch(workspace, "text", ids[:2], annotator="bob", source={"kind": "cli"})
    lbl.record_batch(workspace, "cover", ids[2:3], annotator="carol", source={"kind": "cli"})  # same class
    others, latest = lbl.relabelled_by_others(workspace, "alice")
    assert others == {"bob": 2}
    assert lbl.relabelled_by_others(workspace, "alice", latest)[0] == {}
    lbl.revert_batch(workspace, batch, annotator="bob")
    assert lbl.relabelled_by_others(workspace, "alice")[0] == {}  # a reverted overwrite is no overwrite
