"""Tests for the synthetic organisation (model/org.py) and its disk cache (model/graph_cache.py)."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from replyall_storm.model import graph_cache
from replyall_storm.model.errors import ParameterError
from replyall_storm.model.graph_cache import cached_organisation, clear_cache
from replyall_storm.model.org import Level, Organisation, OrgSpec
from replyall_storm.model.org_generator import build_organisation

ARRAYS = ("team", "department", "organisation", "region", "is_manager", "indptr", "indices")
SPEC = OrgSpec()


@pytest.fixture(scope="module")
def org() -> Organisation:
    return build_organisation(20_000, SPEC, rng=7)


@pytest.fixture(scope="module")
def small() -> Organisation:
    return build_organisation(2_000, SPEC, rng=3)


def assert_same(a: Organisation, b: Organisation) -> None:
    assert a.n_users == b.n_users and a.spec == b.spec and a.seed == b.seed
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


def assert_simple_symmetric(o: Organisation) -> None:
    n, ip, ix = o.n_users, o.indptr, o.indices
    assert ip.dtype == np.int64 and ix.dtype == np.int32 and len(ip) == n + 1
    rows = np.repeat(np.arange(n), np.diff(ip))
    assert np.all(ix >= 0) and np.all(ix < n)
    assert not np.any(rows == ix), "self loop"
    # strictly increasing inside each row: sorted and no duplicates
    same_row = rows[1:] == rows[:-1]
    assert np.all(ix[1:][same_row] > ix[:-1][same_row])
    forward = np.sort(rows.astype(np.int64) * n + ix)
    backward = np.sort(ix.astype(np.int64) * n + rows)
    assert np.array_equal(forward, backward), "not symmetric"


# --- units -------------------------------------------------------------------------------


def test_every_user_in_exactly_one_nested_unit(org: Organisation) -> None:
    n = org.n_users
    assert n == 20_000
    for level in (Level.TEAM, Level.DEPARTMENT, Level.ORGANISATION, Level.REGION):
        ids = org.unit_of(level)
        assert ids.shape == (n,) and ids.dtype == np.int32
        sizes = org.unit_sizes(level)
        assert sizes.sum() == n and np.all(sizes >= 1)  # ids 0..k-1, none empty
        assert np.all(np.diff(ids) >= 0), "units are contiguous blocks of user ids"
    for child, parent in [("team", "department"), ("department", "organisation")]:
        c, p = getattr(org, child), getattr(org, parent)
        pairs = np.unique(np.stack([c, p]), axis=1)
        assert len(np.unique(pairs[0])) == pairs.shape[1], f"a {child} spans two {parent}s"
    pairs = np.unique(np.stack([org.organisation, org.region]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1], "an organisation spans two regions"
    assert len(org.unit_sizes(Level.REGION)) == SPEC.n_regions


def test_exactly_one_manager_per_team_its_first_user(org: Organisation) -> None:
    assert org.is_manager.dtype == bool
    assert np.array_equal(np.bincount(org.team[org.is_manager]), np.ones(org.team[-1] + 1))
    first = np.flatnonzero(np.diff(org.team, prepend=-1))
    assert np.array_equal(np.flatnonzero(org.is_manager), first)


def test_team_sizes_heavy_tailed(org: Organisation) -> None:
    sizes = org.unit_sizes(Level.TEAM)
    assert 6 <= np.median(sizes) <= 10
    assert sizes.max() >= 8 * np.median(sizes)
    assert sizes.max() <= SPEC.team_size_max


def test_fewer_organisations_than_regions_gives_fewer_regions() -> None:
    o = build_organisation(100, OrgSpec(n_regions=1_000), rng=1)
    n_orgs = len(o.unit_sizes(Level.ORGANISATION))
    assert len(o.unit_sizes(Level.REGION)) == n_orgs < 1_000


def test_members_and_directory(org: Organisation) -> None:
    assert np.array_equal(org.members(Level.DIRECTORY, 0), np.arange(org.n_users))
    team = org.members(Level.TEAM, 5)
    assert np.all(org.team[team] == 5) and len(team) == org.unit_sizes(Level.TEAM)[5]
    assert np.all(np.diff(team) > 0)
    n_depts = len(org.unit_sizes(Level.DEPARTMENT))
    for level, unit in [(Level.DEPARTMENT, n_depts), (Level.TEAM, -1), (Level.DIRECTORY, 1)]:
        with pytest.raises(ParameterError, match="unit"):
            org.members(level, unit)


# --- graph -------------------------------------------------------------------------------


def test_graph_simple_symmetric_sorted(org: Organisation, small: Organisation) -> None:
    assert_simple_symmetric(org)
    assert_simple_symmetric(small)
    assert org.n_edges == len(org.indices) // 2 == len(org.edge_array())
    u = 123
    nb = org.neighbours(u)
    assert np.array_equal(nb, org.indices[org.indptr[u] : org.indptr[u + 1]])
    assert np.array_equal(org.degree()[[u]], [len(nb)])


def test_everyone_tied_to_team_manager_and_hierarchy(org: Organisation) -> None:
    managers = np.flatnonzero(org.is_manager)
    for u in (1, 500, 19_999):
        m = managers[org.team[u]]
        assert u == m or m in org.neighbours(u)
    # each team manager knows the department head, a department head its organisation head
    dept_head = org.members(Level.DEPARTMENT, 3)[0]
    for m in managers[np.unique(org.team[org.members(Level.DEPARTMENT, 3)])][1:]:
        assert dept_head in org.neighbours(m)
    assert 0 in org.neighbours(org.members(Level.REGION, 1)[0])  # region head -> national


def test_nearly_connected_and_networkx_matches(small: Organisation) -> None:
    g = small.to_networkx()
    assert isinstance(g, nx.Graph) and not g.is_directed()
    assert g.number_of_nodes() == small.n_users and g.number_of_edges() == small.n_edges
    assert max(len(c) for c in nx.connected_components(g)) > 0.99 * small.n_users
    for u in (0, 17, 1_999):
        attrs = g.nodes[u]
        assert attrs["team"] == small.team[u] and attrs["region"] == small.region[u]
        assert attrs["department"] == small.department[u]
        assert attrs["organisation"] == small.organisation[u]
        assert attrs["manager"] is bool(small.is_manager[u])
        assert sorted(g.neighbors(u)) == small.neighbours(u).tolist()
    e = small.edge_array()
    assert e.dtype == np.int32 and e.shape == (small.n_edges, 2) and np.all(e[:, 0] < e[:, 1])


def test_mean_degree_near_team_degree_plus_manager_plus_cross(org: Organisation) -> None:
    # colleague ties (capped at team size - 1 in small teams) + manager tie + cross ties:
    # within 10 % of team_degree + 1 + cross_ties_per_user for the default spec.
    expected = SPEC.team_degree + 1 + SPEC.cross_ties_per_user
    assert abs(org.degree().mean() - expected) < 0.1 * expected
    sparse = build_organisation(20_000, OrgSpec(team_degree=0, cross_ties_per_user=0), rng=1)
    assert 1.5 < sparse.degree().mean() < 2.5  # manager star (+ hierarchy): ~2 (n - teams) / n


# --- determinism and validation -----------------------------------------------------------


def test_same_seed_identical_different_seed_differs(small: Organisation) -> None:
    again = build_organisation(2_000, SPEC, rng=3)
    assert_same(small, again)
    assert_same(small, build_organisation(2_000, SPEC, rng=np.int64(3)))
    other = build_organisation(2_000, SPEC, rng=4)
    assert not np.array_equal(small.team, other.team) or not np.array_equal(
        small.indices, other.indices
    )
    gen = build_organisation(2_000, SPEC, rng=np.random.default_rng(3))
    assert gen.seed is None and np.array_equal(gen.indices, small.indices)
    fresh = build_organisation(2_000, SPEC)
    assert isinstance(fresh.seed, int)
    assert_same(fresh, build_organisation(2_000, SPEC, rng=fresh.seed))


def test_global_random_state_untouched() -> None:
    np.random.seed(11)
    before = np.random.get_state()[1].copy()
    build_organisation(1_000, rng=1)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("n", [1, 1_000_001, 500.0, True, -5])
def test_bad_n_users(n: object) -> None:
    with pytest.raises(ParameterError, match=r"^n_users=.*1,000,000 \(users\)$"):
        build_organisation(n)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("team_size_median", 0.0),
        ("team_size_median", 300.0),  # above team_size_max
        ("team_size_sigma", -0.1),
        ("team_size_max", 0),
        ("team_size_max", 2.5),
        ("teams_per_department_median", 0.0),
        ("teams_per_department_sigma", float("nan")),
        ("departments_per_organisation_median", -1.0),
        ("departments_per_organisation_sigma", float("inf")),
        ("n_regions", 0),
        ("team_degree", -1.0),
        ("cross_ties_per_user", -0.5),
    ],
)
def test_bad_spec_names_field(field: str, value: object) -> None:
    spec = dataclasses.replace(SPEC, **{field: value})
    with pytest.raises(ParameterError, match=rf"^{field}=") as info:
        spec.validate()
    assert info.value.name == field and "\n" not in str(info.value)
    with pytest.raises(ParameterError, match=rf"^{field}="):
        build_organisation(1_000, spec, rng=1)


def test_bad_level_and_user(small: Organisation) -> None:
    with pytest.raises(ParameterError, match="level"):
        small.unit_of(7)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="user"):
        small.neighbours(small.n_users)


# --- persistence and cache ----------------------------------------------------------------


def test_save_load_round_trip(small: Organisation, tmp_path) -> None:
    path = tmp_path / "org.npz"
    small.save(path)
    assert_same(small, Organisation.load(path))
    bad = tmp_path / "bad.npz"
    np.savez(bad, n_users=np.int64(5), meta="{}", **{a: getattr(small, a) for a in ARRAYS})
    with pytest.raises(ParameterError, match="path"):
        Organisation.load(bad)


def test_cache_hit_returns_identical_arrays(tmp_path) -> None:
    first, hit1 = cached_organisation(2_000, SPEC, 5, cache_dir=tmp_path)
    second, hit2 = cached_organisation(2_000, SPEC, 5, cache_dir=tmp_path)
    assert (hit1, hit2) == (False, True)
    assert_same(first, second)
    assert_same(first, build_organisation(2_000, SPEC, rng=5))
    _, hit3 = cached_organisation(2_000, SPEC, 6, cache_dir=tmp_path)
    assert not hit3
    assert not list(tmp_path.glob(".*.tmp")), "temp files left behind"
    assert clear_cache(tmp_path) == 2 and not list(tmp_path.iterdir())


def test_truncated_cache_file_is_rebuilt(tmp_path) -> None:
    org, _ = cached_organisation(2_000, SPEC, 9, cache_dir=tmp_path)
    (path,) = tmp_path.glob("org-*.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    again, hit = cached_organisation(2_000, SPEC, 9, cache_dir=tmp_path)
    assert not hit
    assert_same(org, again)
    assert cached_organisation(2_000, SPEC, 9, cache_dir=tmp_path)[1]  # rewritten whole


def test_cache_dir_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(graph_cache.ENV_VAR, str(tmp_path / "c"))
    _, hit = cached_organisation(1_000, SPEC, 1)
    assert not hit and len(list((tmp_path / "c").glob("org-*.npz"))) == 1
    assert clear_cache() == 1
    with pytest.raises(ParameterError, match="seed"):
        cached_organisation(1_000, SPEC, None)  # type: ignore[arg-type]


# --- full size ------------------------------------------------------------------------------


def test_nhsmail_scale_840k() -> None:
    o = build_organisation(840_000, SPEC, rng=2016)
    assert o.n_users == 840_000 and len(o.team) == 840_000
    assert o.indptr[-1] == len(o.indices) and 6.5 < o.degree().mean() < 7.7
    assert len(o.unit_sizes(Level.REGION)) == 7 and o.is_manager.sum() == o.team[-1] + 1
