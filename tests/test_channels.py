"""Tests of survey.register.channels: one unit list from three channels, multiple-frame estimation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.errors import ChannelError
from survey.estimation.multiframe import multiple_frame_total
from survey.register.channels import link_channels
from survey.register.frame import uscc_check_character


def uscc(k: int) -> str:
    first17 = f"91450100{k:09d}"
    return first17 + uscc_check_character(first17)


@pytest.fixture
def sources():
    ids = [uscc(k) for k in range(1, 7)]
    register = pd.DataFrame(
        {
            "firm_id": ids[:5],
            "county": ["Bobai", "Lipu", "Lipu", "Binyang", "Luchuan"],
            "gross_output": [100.0, 50.0, 20.0, 10.0, 5.0],
        }
    )
    # firm 0 is in all three channels; firm 5 is known to the zone only
    bureau = pd.DataFrame({"firm_id": [ids[0], ids[1], ids[2]], "county": ["Bobai", "Lipu", "Lipu"]})
    federation = pd.DataFrame({"firm_id": [ids[0], ids[3].lower()], "county": ["Bobai", "Binyang"]})
    zone = pd.DataFrame({"firm_id": [" " + ids[0], ids[5]], "county": ["Bobai", "Bobai"],
                         "gross_output": [100.0, 7.0]})
    return ids, register, {"bureau": bureau, "federation": federation, "zone": zone}


def test_firm_in_all_three_channels_is_counted_once(sources):
    ids, register, channels = sources
    ul = link_channels(register, channels)
    units = ul.units
    assert units["firm_id"].is_unique and len(units) == 6
    row = units[units.firm_id == ids[0]].iloc[0]
    assert row.in_bureau and row.in_federation and row.in_zone and row.in_register
    assert row.n_channels == 3 and row.channels == "register+bureau+federation+zone"
    overlap = ul.overlap()
    all_three = overlap[overlap.channels == "register+bureau+federation+zone"]
    assert all_three.firms.tolist() == [1]
    assert overlap.loc[overlap.channels == "total", "firms"].item() == 6
    assert overlap.loc[overlap.channels != "total", "firms"].sum() == 6
    # sector total counts firm 0 once (100), while each channel table still has it
    assert units.gross_output.sum() == pytest.approx(100 + 50 + 20 + 10 + 5 + 7)
    per_channel = {c: ul.channel(c).gross_output.sum() for c in ul.channels}
    assert per_channel == {"bureau": 170.0, "federation": 110.0, "zone": 107.0}
    assert sum(per_channel.values()) > units.gross_output.sum()  # naive channel sum double counts


def test_report_of_units_not_in_register_and_ids_normalised(sources):
    ids, register, channels = sources
    ul = link_channels(register, channels)
    assert ul.not_in_register.to_dict("records") == [{"firm_id": ids[5], "channel": "zone"}]
    # lower-case / padded ids of the federation and zone matched exactly after normalising
    assert bool(ul.units.loc[ul.units.firm_id == ids[3], "in_federation"].item())
    only = ul.units.loc[ul.units.firm_id == ids[5]].iloc[0]
    assert not only.in_register and only.county == "Bobai" and only.gross_output == 7.0
    registered = link_channels(register, channels, keep_unregistered=False)
    assert len(registered.units) == 5 and len(registered.not_in_register) == 1


def test_conflicting_attributes_reported_register_kept(sources):
    ids, register, channels = sources
    channels = dict(channels)
    channels["federation"] = channels["federation"].assign(county=["Lipu", "Binyang"])
    ul = link_channels(register, channels)
    c = ul.conflicts
    assert set(c.firm_id) == {ids[0]} and set(c.column) == {"county"}
    assert dict(zip(c.source, c.value)) == {"register": "Bobai", "bureau": "Bobai", "federation": "Lipu", "zone": "Bobai"}
    assert set(c.kept) == {"Bobai"}
    assert ul.units.loc[ul.units.firm_id == ids[0], "county"].item() == "Bobai"
    with pytest.raises(ChannelError, match="federation=Lipu"):
        link_channels(register, channels, on_conflict="error")


def test_invalid_and_duplicate_ids(sources):
    ids, register, channels = sources
    bad = dict(channels)
    bad["bureau"] = pd.concat([channels["bureau"], pd.DataFrame({"firm_id": ["91450100000000001X"]})],
                              ignore_index=True)
    with pytest.warns(sv.SurveyWarning, match="not valid USCCs"):
        ul = link_channels(register, bad)
    assert ul.invalid_ids.to_dict("records") == [{"source": "bureau", "row": 3, "firm_id": "91450100000000001X"}]
    assert len(ul.units) == 6
    dup = dict(channels)
    dup["zone"] = pd.DataFrame({"firm_id": [ids[1], ids[1].lower()]})
    with pytest.raises(ChannelError, match="zone lists 1 firm id"):
        link_channels(register, dup)


# --------------------------------------------------------------------------- multiple frames
def _two_frame_samples(rng, population, n_a, n_b):
    in_a = population.in_a.to_numpy()
    in_b = population.in_b.to_numpy()
    out = {}
    for name, mask, n in (("a", in_a, n_a), ("b", in_b, n_b)):
        idx = np.flatnonzero(mask)
        pick = rng.choice(idx, size=n, replace=False)
        df = population.iloc[pick].assign(w=idx.size / n, N=idx.size)
        out[name] = sv.Survey(df.reset_index(drop=True), sv.Design(weights="w", fpc="N"))
    return out


@pytest.fixture(scope="module")
def two_frames():
    rng = np.random.default_rng(11)
    n = 3000
    u = rng.uniform(size=n)
    population = pd.DataFrame(
        {
            "y": rng.gamma(2.0, 50.0, n),
            "x": rng.gamma(2.0, 5.0, n),
            "in_a": u < 0.7,
            "in_b": u > 0.5,
        }
    )
    return population


def test_multiplicity_hand_computation_and_hartley_half(two_frames):
    rng = np.random.default_rng(1)
    samples = _two_frame_samples(rng, two_frames, 200, 150)
    mem = {"a": "in_a", "b": "in_b"}
    multi = multiple_frame_total(samples, ["y", "x"], membership=mem)
    hand = 0.0
    for s in samples.values():
        d = s.data
        hand += float(np.sum(d.w * d.y / (d.in_a.astype(int) + d.in_b.astype(int))))
    assert multi.estimate[0] == pytest.approx(hand, rel=1e-12)
    # variance = sum over the independent samples of the design variance of y/m
    var = 0.0
    for s in samples.values():
        d = s.data
        z = d.y / (d.in_a.astype(int) + d.in_b.astype(int))
        n, N = len(d), d.N.iloc[0]
        var += N**2 * (1 - n / N) * z.var(ddof=1) / n
    assert multi.se[0] == pytest.approx(np.sqrt(var), rel=1e-10)
    half = multiple_frame_total(samples, ["y", "x"], membership=mem, method="hartley", theta=0.5)
    np.testing.assert_allclose(half.estimate, multi.estimate, rtol=1e-12)
    np.testing.assert_allclose(half.se, multi.se, rtol=1e-10)
    assert list(multi.table().columns) == ["variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "theta"]


def test_hartley_optimal_theta_minimises_variance(two_frames):
    rng = np.random.default_rng(2)
    samples = _two_frame_samples(rng, two_frames, 200, 150)
    mem = {"a": "in_a", "b": "in_b"}
    opt = multiple_frame_total(samples, "y", membership=mem, method="hartley")
    grid = np.linspace(0, 1, 101)
    ses = [multiple_frame_total(samples, "y", membership=mem, method="hartley", theta=t).se[0] for t in grid]
    assert opt.se[0] <= min(ses) + 1e-9
    assert abs(opt.theta[0] - grid[int(np.argmin(ses))]) <= 0.011


def test_multiple_frame_estimators_unbiased_with_honest_se(two_frames):
    """300 pairs of samples (120 from frame A, 90 from B; the draws of
    :func:`_two_frame_samples`, one pair after the other): the multiplicity estimate and its
    SE are unbiased and honest. The 300 estimates and SEs are computed at once with the
    formula of :func:`test_multiplicity_hand_computation_and_hartley_half` (sum of w y / m;
    variance: sum over the two samples of N^2 (1 - n/N) s_z^2 / n); the first pair also goes
    through ``multiple_frame_total`` (the public call), which must give the same numbers."""
    rng = np.random.default_rng(3)
    truth = two_frames.y.sum()
    mem = {"a": "in_a", "b": "in_b"}
    reps, sizes = 300, {"a": 120, "b": 90}
    z = (two_frames.y / (two_frames.in_a.astype(int) + two_frames.in_b.astype(int))).to_numpy()
    frames = {name: np.flatnonzero(two_frames[mem[name]].to_numpy()) for name in sizes}
    picks = {name: np.empty((reps, n), dtype=np.int64) for name, n in sizes.items()}
    for r in range(reps):  # the random draws only, in the order of _two_frame_samples
        for name, n in sizes.items():
            picks[name][r] = rng.choice(frames[name], size=n, replace=False)
    est, var = np.zeros(reps), np.zeros(reps)
    for name, n in sizes.items():  # two frames: every replication at once
        N, zs = frames[name].size, z[picks[name]]
        est += N / n * zs.sum(axis=1)
        var += N**2 * (1 - n / N) * zs.var(axis=1, ddof=1) / n
    se = np.sqrt(var)
    first = {name: sv.Survey(two_frames.iloc[picks[name][0]].assign(
        w=frames[name].size / n, N=frames[name].size).reset_index(drop=True),
        sv.Design(weights="w", fpc="N")) for name, n in sizes.items()}
    m = multiple_frame_total(first, "y", membership=mem)
    assert m.estimate[0] == pytest.approx(est[0], rel=1e-12)
    assert m.se[0] == pytest.approx(se[0], rel=1e-10)
    assert abs(est.mean() / truth - 1) < 0.01
    assert np.mean(se) / np.std(est) == pytest.approx(1.0, abs=0.12)
    assert 0.91 <= np.mean(np.abs(est - truth) <= 1.96 * se) <= 0.99


def test_multiple_frame_input_errors(two_frames):
    samples = _two_frame_samples(np.random.default_rng(4), two_frames, 50, 50)
    with pytest.raises(ChannelError, match="one column per sampled frame"):
        multiple_frame_total(samples, "y", membership={"a": "in_a"})
    with pytest.raises(ChannelError, match="must belong to it"):
        multiple_frame_total(samples, "y", membership={"a": "in_b", "b": "in_a"})
    three = {**samples, "c": samples["a"]}
    with pytest.raises(ChannelError, match="exactly two frames"):
        multiple_frame_total(three, "y", membership={"a": "in_a", "b": "in_b", "c": "in_a"}, method="hartley")


def test_register_flags_of_channels_not_listed_are_carried(sources):
    ids, register, channels = sources
    reg = register.assign(in_bureau=[True, True, False, False, True])
    ul = link_channels(reg, {"zone": channels["zone"]})
    np.testing.assert_array_equal(ul.units.set_index("firm_id").loc[ids, "in_bureau"].to_numpy(),
                                  [True, True, False, False, True, False])
    assert ul.channels == ("zone",)


def test_bundled_register_channels_overlap_counted_once():
    from survey.datasets import load_register

    reg = load_register(2006)
    lists = {c: reg.loc[reg[f"in_{c}"], ["firm_id", "county", "industry"]] for c in ("bureau", "federation", "zone")}
    ul = link_channels(reg.drop(columns=["in_bureau", "in_federation", "in_zone"]), lists)
    assert len(ul.units) == reg.firm_id.nunique() == len(reg)
    assert len(ul.conflicts) == 0 and len(ul.not_in_register) == 0
    for c in ("bureau", "federation", "zone"):
        np.testing.assert_array_equal(ul.units.set_index("firm_id").loc[reg.firm_id, f"in_{c}"].to_numpy(),
                                      reg[f"in_{c}"].to_numpy())
    overlap = ul.overlap()
    body = overlap[overlap.channels != "total"]
    assert body.firms.sum() == len(reg)
    all_three = body[body.in_bureau & body.in_federation & body.in_zone].firms.sum()
    assert all_three == int((reg.in_bureau & reg.in_federation & reg.in_zone).sum()) > 0
    # channel memberships summed over channels count the overlapping firms several times
    assert sum(len(ul.channel(c)) for c in ul.channels) == len(reg) + int(
        (reg[["in_bureau", "in_federation", "in_zone"]].sum(axis=1) - 1).clip(lower=0).sum()
    )


def test_multiple_frame_estimate_is_a_result_with_levels(two_frames):
    """The multiple-frame total has the common result interface: estimate, se, cv, ci, summary."""
    from survey.estimation.results import IntervalResult, Summary, t_quantile

    rng = np.random.default_rng(4)
    samples = _two_frame_samples(rng, two_frames, 100, 80)
    m = multiple_frame_total(samples, ["y", "x"], membership={"a": "in_a", "b": "in_b"})
    assert isinstance(m, IntervalResult) and m.level == 0.95
    t90 = m.table(level=0.9)
    q = float(t_quantile(0.9, m.df))
    np.testing.assert_allclose(t90.ci_low, m.estimate - q * m.se, rtol=1e-15)
    np.testing.assert_allclose(m.cv, m.se / np.abs(m.estimate), rtol=1e-15)
    assert list(m.ci().columns) == ["variable", "ci_low", "ci_high"]
    summary = m.summary()
    assert isinstance(summary, Summary)
    assert str(summary).startswith(f"Multiple-frame total (multiplicity; 95% t-interval, df = {m.df})")
