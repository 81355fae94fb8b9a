"""The paired bootstrap (`yolo_attn.metrics.evidence`): exact against the scorer, equal to scoring a resampled test set,
and right where the answer is obvious."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from test_metrics_properties import cases

from yolo_attn.metrics import score_detections
from yolo_attn.metrics.evidence import (
    BOOTSTRAP_METRICS,
    PER_IMAGE_FILE,
    compare_saved,
    evidence_markdown,
    evidence_rows,
    forest_plot,
    load_per_image,
    outcomes,
    paired_bootstrap,
    resample_weights,
    resampled_metrics,
    save_per_image,
    seeds_needed,
    sweep_evidence,
)

ALL = list(BOOTSTRAP_METRICS)


def random_problem(rng: np.random.Generator, n_img: int = 120, n_cls: int = 20, ties: bool = True, miss: float = 0.0):
    """(ground truth, detections): 20 classes in a shuffled id order, difficult boxes, near-duplicates, background
    boxes, image ids out of order; with ``ties``, scores rounded to 0.1 (many equal scores)."""
    gt = {
        "images": [{"id": int(i), "width": 500, "height": 400} for i in rng.permutation(n_img) * 7 + 3],
        "categories": [{"id": int(c) + 1, "name": f"c{c}"} for c in rng.permutation(n_cls)],
        "annotations": [],
    }
    dets = []
    for img in gt["images"]:
        for _ in range(rng.integers(0, 6)):
            c = int(rng.integers(1, n_cls + 1))
            x, y, w, h = (float(v) for v in (*rng.integers(0, 400, 2), *rng.integers(5, 100, 2)))
            diff = int(rng.random() < 0.15)
            gt["annotations"].append({"image_id": img["id"], "category_id": c, "bbox": [x, y, w, h], "difficult": diff})
            for _ in range(rng.integers(0, 3) if rng.random() >= miss else 0):
                j = rng.normal(0, 6, 4)
                cat = c if rng.random() < 0.9 else int(rng.integers(1, n_cls + 1))
                box = [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])]
                dets.append({"image_id": img["id"], "category_id": cat, "bbox": [float(v) for v in box]})
        for _ in range(rng.integers(0, 4)):
            box = [float(v) for v in rng.uniform(1, 300, 4)]
            dets.append({"image_id": img["id"], "category_id": int(rng.integers(1, n_cls + 1)), "bbox": box})
    for d in dets:
        d["score"] = float(np.round(rng.random(), 1)) if ties else float(rng.random())
    return gt, dets


def literal_resample(gt: dict, dets: list[dict], counts) -> tuple[dict, list[dict]]:
    """The test set with image i present counts[i] times (fresh ids), its detections copied with it."""
    gt2 = {"images": [], "categories": gt["categories"], "annotations": []}
    dets2 = []
    new_id = 0
    for img, c in zip(gt["images"], counts, strict=True):
        for _ in range(int(c)):
            new_id += 1
            gt2["images"].append({**img, "id": new_id})
            gt2["annotations"] += [{**a, "image_id": new_id} for a in gt["annotations"] if a["image_id"] == img["id"]]
            dets2 += [{**d, "image_id": new_id} for d in dets if d["image_id"] == img["id"]]
    return gt2, dets2


def assert_equal(x: float, y: float, tol: float = 0.0) -> None:
    assert (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol, (x, y)


# ------------------------------------------------------------------------------------------- exactness
@given(cases())
def test_all_ones_weights_give_the_scorers_numbers_bit_for_bit(case):
    gt, dets = case
    want = score_detections(dets, gt)
    got = resampled_metrics(outcomes(dets, gt), ALL, np.ones((2, len(gt["images"]))))
    for m in ALL:
        assert_equal(float(got[m][0]), want[m])
        assert_equal(float(got[m][1]), want[m])


@pytest.mark.parametrize("seed", range(4))
def test_all_ones_weights_are_exact_on_twenty_classes_with_tied_scores(seed):
    # 20 classes (pairwise summation in the means), many tied scores (the devkit and pycocotools order ties
    # differently), difficult boxes, duplicates, image ids out of order, category ids shuffled
    gt, dets = random_problem(np.random.default_rng(seed), ties=seed % 2 == 0)
    want = score_detections(dets, gt)
    got = resampled_metrics(outcomes(dets, gt), ALL, np.ones((1, len(gt["images"]))))
    for m in ALL:
        assert got[m][0] == want[m], (m, got[m][0], want[m])


@given(cases(), st.data())
def test_a_resample_is_the_scorer_on_the_resampled_test_set(case, data):
    # distinct scores: the copies of one detection tie only with each other, so every order of ties is the same
    gt, dets = case
    counts = data.draw(st.lists(st.integers(0, 3), min_size=len(gt["images"]), max_size=len(gt["images"])))
    assume(sum(counts) > 0)
    want = score_detections(*reversed(literal_resample(gt, dets, counts)))
    got = resampled_metrics(outcomes(dets, gt), ALL, np.array([counts], float))
    for m in ALL:
        assert_equal(float(got[m][0]), want[m], 1e-12)


def test_a_resample_is_the_scorer_on_the_resampled_test_set_at_twenty_classes():
    rng = np.random.default_rng(7)
    gt, dets = random_problem(rng, n_img=60, ties=False)
    counts = rng.multinomial(60, np.full(60, 1 / 60))
    want = score_detections(*reversed(literal_resample(gt, dets, counts)))
    got = resampled_metrics(outcomes(dets, gt), ALL, counts[None].astype(float))
    for m in ALL:
        assert_equal(float(got[m][0]), want[m], 1e-12)


def test_the_order_of_the_images_changes_nothing():
    rng = np.random.default_rng(3)
    gt, dets = random_problem(rng, n_img=50)
    w = resample_weights(50, 30, rng)
    got = resampled_metrics(outcomes(dets, gt), ALL, w)
    order = rng.permutation(50)
    gt2 = {**gt, "images": [gt["images"][i] for i in order]}
    got2 = resampled_metrics(outcomes(dets, gt2), ALL, w[:, order])
    for m in ALL:
        np.testing.assert_array_equal(got[m], got2[m])


@given(cases(), st.integers(0, 2**32 - 1))
def test_resampled_values_are_fractions_or_nan(case, seed):
    gt, dets = case
    w = resample_weights(len(gt["images"]), 20, np.random.default_rng(seed))
    for m, v in resampled_metrics(outcomes(dets, gt), ALL, w).items():
        ok = np.isnan(v) | ((v >= 0) & (v <= 1 + 1e-12))
        assert ok.all(), (m, v)


# ------------------------------------------------------------------------------------------- obvious answers
def test_a_model_against_itself_has_every_delta_zero():
    gt, dets = random_problem(np.random.default_rng(1), n_img=60)
    r = outcomes(dets, gt)
    for m in ALL:
        row = paired_bootstrap([r, r], [r, r], m, resamples=200, seed=1)
        assert (row["delta"], row["low"], row["high"], row["p_better"]) == (0.0, 0.0, 0.0, 0.0)
        assert row["verdict"] == "no evidence"


def test_a_variant_with_strictly_more_true_positives_is_better():
    rng = np.random.default_rng(2)
    gt, dets = random_problem(rng, n_img=80, ties=False, miss=0.5)
    extra = [  # the variant also finds every box the baseline missed, at the top of the ranking
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0 + i}
        for i, a in enumerate(gt["annotations"])
    ]
    base, var = outcomes(dets, gt), outcomes(dets + extra, gt)
    for m in ALL:
        row = paired_bootstrap([base], [var], m, resamples=300, seed=0)
        assert row["low"] > 0 and row["verdict"] == "better" and row["p_better"] == 1.0, row
        assert "test-set sampling only" in row["method"]
        flipped = paired_bootstrap([var], [base], m, resamples=300, seed=0)
        assert flipped["high"] < 0 and flipped["verdict"] == "worse"


def test_exchangeable_models_give_an_interval_around_zero_and_p_near_one_half():
    # Every image twice (ids i and i + 1000); one model's detections on one copy, the other's on the other copy,
    # which copy chosen at random per image: swapping the copies' weights maps a resample's delta to minus itself,
    # so the bootstrap distribution of delta is exactly symmetric about 0.
    rng = np.random.default_rng(4)
    gt, x = random_problem(rng, n_img=60, ties=False)
    _, y = random_problem(np.random.default_rng(5), n_img=60, ties=False)
    y = [d for d in y if d["image_id"] in {i["id"] for i in gt["images"]}]
    gt2 = copy.deepcopy(gt)
    gt2["images"] += [{**i, "id": i["id"] + 1000} for i in gt["images"]]
    gt2["annotations"] += [{**a, "image_id": a["image_id"] + 1000} for a in gt["annotations"]]
    swap = {i["id"]: bool(rng.integers(0, 2)) for i in gt["images"]}

    def model(first, second):
        return [{**d, "image_id": d["image_id"] + 1000 * swap[d["image_id"]]} for d in first] + [
            {**d, "image_id": d["image_id"] + 1000 * (not swap[d["image_id"]])} for d in second
        ]

    base, var = outcomes(model(x, y), gt2), outcomes(model(y, x), gt2)
    resamples = 2000
    for m in ALL:
        row = paired_bootstrap([base], [var], m, resamples=resamples, seed=3)
        assert abs(row["delta"]) < 1e-12
        assert row["low"] < 0 < row["high"] and row["verdict"] == "no evidence"
        assert abs(row["p_better"] - 0.5) < 4 * 0.5 / math.sqrt(resamples), row["p_better"]


# ------------------------------------------------------------------------------------------- seeds
def seed_runs(n: int, base_seed: int, keep: float = 0.7):
    """``n`` runs on one test set: each keeps a random ``keep`` share of one detection set, scores jittered."""
    gt, dets = random_problem(np.random.default_rng(0), n_img=40, n_cls=5, ties=False)
    runs = []
    for s in range(n):
        rng = np.random.default_rng(base_seed + s)
        runs.append(
            outcomes([{**d, "score": d["score"] + rng.normal(0, 0.2)} for d in dets if rng.random() < keep], gt)
        )
    return runs


def test_seeds_and_images_give_a_deterministic_two_level_interval():
    base, var = seed_runs(3, 10), seed_runs(3, 20)
    rows = evidence_rows(dict(enumerate(base)), {"v": dict(enumerate(var))}, "voc07_map50", 300, seed=5)
    again = evidence_rows(dict(enumerate(base)), {"v": dict(enumerate(var))}, "voc07_map50", 300, seed=5)
    assert rows == again
    row = rows[0]
    assert row["model"] == "v" and row["seeds"] == 3 and "two-level" in row["method"]
    assert row["low"] < row["high"] and row["verdict"] == (
        "better" if row["low"] > 0 else "worse" if row["high"] < 0 else "no evidence"
    )
    scores = [resampled_metrics(r, ["voc07_map50"], np.ones((1, 40)))["voc07_map50"][0] for r in base]
    assert row["noise_floor"] == pytest.approx(np.std(scores, ddof=1)) and row["noise_floor"] > 0
    other = evidence_rows(dict(enumerate(base)), {"v": dict(enumerate(var))}, "voc07_map50", 300, seed=6)[0]
    assert (other["low"], other["high"]) != (row["low"], row["high"])


def test_seeds_needed_follows_the_variance_formula():
    # s² = var(0.01, 0.02, 0.03) = 1e-4; v = 0: k = ceil(1e-4 / (0.005 / 1.96)²) = ceil(15.37) = 16
    assert seeds_needed(np.array([0.01, 0.02, 0.03]), np.zeros(100), 0.005) == 16
    assert seeds_needed(np.array([0.01]), np.zeros(100)) is None  # one seed: no seed variance
    assert seeds_needed(np.array([0.0, 0.01]), np.array([-0.01, 0.01] * 50), 0.005) is None  # test set too small


# ------------------------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_naming_the_problem():
    base, var = seed_runs(2, 10), seed_runs(2, 20)
    with pytest.raises(ValueError, match="needs a baseline"):
        evidence_rows({}, {"v": dict(enumerate(var))})
    with pytest.raises(ValueError, match=r"model 'v' has seeds \[0, 5\], the baseline has \[0, 1\]"):
        evidence_rows(dict(enumerate(base)), {"v": {0: var[0], 5: var[1]}})
    with pytest.raises(ValueError, match="cannot be resampled; valid: voc07_map50"):
        paired_bootstrap(base, var, "coco_ar100")
    with pytest.raises(ValueError, match="resamples 0 is not an integer >= 1"):
        paired_bootstrap(base, var, resamples=0)
    gt, dets = random_problem(np.random.default_rng(9), n_img=30, n_cls=5)
    with pytest.raises(ValueError, match="another test set"):
        paired_bootstrap(base, [var[0], outcomes(dets, gt)])
    with pytest.raises(ValueError, match=r"weights must have shape \(R, 40\)"):
        resampled_metrics(base[0], ALL, np.ones((3, 41)))
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        resampled_metrics(base[0], ALL, np.full((3, 40), 0.5))


def test_the_benchmark_prints_its_figure(capsys):
    from yolo_attn.cli import main

    assert (
        main(["bench", "bootstrap", "--resamples", "5", "--rounds", "1", "--images", "50", "--detections", "400"]) == 0
    )
    out = capsys.readouterr().out
    assert "5 resamples x 2 models, 50 images" in out and "median" in out


# ------------------------------------------------------------------------------------------- the run folder
def test_per_image_results_round_trip_and_are_checked_on_read(tmp_path):
    gt, dets = random_problem(np.random.default_rng(11), n_img=30, n_cls=6)
    r = outcomes(dets, gt)
    path = save_per_image(r, tmp_path / PER_IMAGE_FILE)
    back = load_per_image(path)
    w = resample_weights(30, 10, np.random.default_rng(0))
    for m, v in resampled_metrics(r, ALL, w).items():
        np.testing.assert_array_equal(resampled_metrics(back, ALL, w)[m], v)
    assert [p.name for p in tmp_path.iterdir()] == [PER_IMAGE_FILE]  # no temporary file left

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    for change, message in [
        ({"version": np.array(0)}, "has version 0; this yolo_attn reads version 1"),
        ({"voc_tp": arrays["voc_tp"] | arrays["voc_fp"]}, "never both"),
        ({"coco_image": arrays["coco_image"] + 30}, r"coco_image: integers in \[0, 30\)"),
        ({"voc_offsets": arrays["voc_offsets"][::-1]}, "voc_offsets"),
        ({"voc_positives": -arrays["voc_positives"] - 1}, "voc_positives"),
    ]:
        bad = tmp_path / "bad.npz"
        np.savez(bad, **{**arrays, **change})
        with pytest.raises(ValueError, match=message):
            load_per_image(bad)
    missing = {k: v for k, v in arrays.items() if k != "version"}
    np.savez(tmp_path / "old.npz", **missing)
    with pytest.raises(ValueError, match="has version None"):
        load_per_image(tmp_path / "old.npz")
    np.savez(tmp_path / "partial.npz", **{k: v for k, v in arrays.items() if k != "coco_tp"})
    with pytest.raises(ValueError, match="has no array 'coco_tp'"):
        load_per_image(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_per_image(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_per_image(tmp_path / "nope.npz")


def test_forest_plot_draws_one_row_per_model(tmp_path):
    base, var = seed_runs(2, 10), seed_runs(2, 20, keep=0.9)
    rows = evidence_rows(dict(enumerate(base)), {"a": dict(enumerate(var)), "b": dict(enumerate(base))}, resamples=100)
    path = forest_plot(rows, tmp_path / "forest.png")
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 500 and im.size[1] > 150
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forest.png"]
    with pytest.raises(ValueError, match="at least one row with an interval"):
        forest_plot([], tmp_path / "empty.png")


def test_a_sweep_reports_every_model_and_says_why_one_has_no_interval(tmp_path):
    base, var = seed_runs(2, 10), seed_runs(2, 20, keep=0.9)
    dirs: dict[str, dict[int, object]] = {}
    for name, runs in [("none", base), ("a", var), ("c", var[:1])]:
        dirs[name] = {
            s: save_per_image(r, tmp_path / name / f"seed{s}" / PER_IMAGE_FILE).parent for s, r in enumerate(runs)
        }
    dirs["old"] = {0: tmp_path / "old" / "seed0", 1: tmp_path / "old" / "seed1"}  # scored before the file existed
    other = outcomes(*reversed(random_problem(np.random.default_rng(9), n_img=30, n_cls=5)))
    dirs["elsewhere"] = {0: save_per_image(other, tmp_path / "elsewhere" / PER_IMAGE_FILE).parent}
    rows = {r["model"]: r for r in sweep_evidence(dirs, "none", resamples=100)}
    assert list(rows) == ["a", "c", "old", "elsewhere"]
    assert rows["elsewhere"]["verdict"] is None and "another test set" in rows["elsewhere"]["reason"]
    assert rows["a"]["verdict"] in ("better", "worse", "no evidence") and rows["a"]["reason"] is None
    assert rows["a"]["seeds"] == 2 and "two-level" in rows["a"]["method"]
    assert rows["c"]["seeds"] == 1 and rows["c"]["reason"] == "seeds [1] have no pair: left out"
    assert rows["old"]["verdict"] is None and "no per_image.npz (scored before" in rows["old"]["reason"]
    table = evidence_markdown(list(rows.values()))
    assert "| `old` | – | – | – | no interval: seed 0: no per_image.npz" in table
    assert "Seed noise floor: " in table and "seeds needed for ±0.5 pp" in table
    forest_plot(list(rows.values()), tmp_path / "forest.png")  # the row without an interval is left out
    assert sweep_evidence({"a": dirs["a"]}, "none")[0]["reason"] == "no baseline 'none' runs"


def test_saved_files_compare_paired_by_position(tmp_path):
    base, var = seed_runs(2, 10), seed_runs(2, 20, keep=0.9)
    b = [str(save_per_image(r, tmp_path / f"b{i}.npz")) for i, r in enumerate(base)]
    v = [str(save_per_image(r, tmp_path / f"v{i}.npz")) for i, r in enumerate(var)]
    rows = compare_saved(",".join(b), ",".join(v), "coco_ap50", resamples=100)
    direct = evidence_rows(dict(enumerate(base)), {"variant": dict(enumerate(var))}, "coco_ap50", 100)
    assert rows == direct
    with pytest.raises(ValueError, match="baseline= names 2 file"):
        compare_saved(",".join(b), v[0])
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        compare_saved(b[0], str(tmp_path / "nope.npz"))


def test_score_command_compares_saved_files_and_refuses_what_it_cannot_do(tmp_path, capsys):
    from yolo_attn.cli import main

    base, var = seed_runs(2, 10), seed_runs(2, 20, keep=0.9)
    b = ",".join(str(save_per_image(r, tmp_path / f"b{i}.npz")) for i, r in enumerate(base))
    v = ",".join(str(save_per_image(r, tmp_path / f"v{i}.npz")) for i, r in enumerate(var))
    assert main(["score", f"baseline={b}", f"variant={v}", "resamples=200", "metric=voc12_map50"]) == 0
    out = capsys.readouterr().out
    assert "| `variant` |" in out and "two-level paired bootstrap: 2 seed pairs" in out and "voc12_map50" in out
    for argv, message in [
        ([f"variant={v}"], "baseline=FILE[,FILE...]"),
        ([f"baseline={b}", f"variant={v.split(',')[0]}"], "baseline= names 2 file(s), variant= 1"),
        (["model=a.pt", "data=d.yaml", f"baseline={b}"], "give per_image=FILE"),
        ([f"baseline={b}", f"variant={v}", "metric=coco_ar100"], "cannot be resampled"),
    ]:
        assert main(["score", *argv]) == 2
        assert message in capsys.readouterr().err
