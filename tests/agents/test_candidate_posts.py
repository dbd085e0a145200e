"""Candidate posts of the macro actions: the hour's p-median sites first, then distinct
theft-aware posts and busiest cells, a fixed number per hour."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.agents.candidate_posts import candidate_posts
from patrolmarl.agents.pmedian import hourly_pmedian
from patrolmarl.agents.theft_posts import DEFAULT_THEFT_WEIGHT, hourly_theft_posts
from patrolmarl.envs.incidents import IncidentModel


def test_posts_are_distinct_cells_led_by_the_hours_pmedian_sites(tiny_district):
    district = tiny_district(hourly_profile=[1] * 6 + [5] * 6 + [2] * 12)
    incidents = IncidentModel(district)
    posts = candidate_posts(district, incidents)
    assert posts.shape == (24, 2 * district.n_units)
    assert all(len(np.unique(row)) == row.size for row in posts)
    sites = hourly_pmedian(district, incidents).sites
    for h in range(24):
        distinct = list(dict.fromkeys(sites[h].tolist()))
        assert posts[h, : len(distinct)].tolist() == distinct
    np.testing.assert_array_equal(posts, candidate_posts(district, incidents))


def test_the_busiest_cells_follow_the_solved_posts(tiny_district):
    district = tiny_district()
    incidents = IncidentModel(district)
    posts = candidate_posts(district, incidents, n_posts=district.n_cells)
    pmedian = hourly_pmedian(district, incidents).sites
    theft = hourly_theft_posts(district, incidents, DEFAULT_THEFT_WEIGHT, certify=False).sites
    rate = incidents.street_rate_per_minute()
    for h in (0, 13):
        solved = set(pmedian[h].tolist()) | set(theft[h].tolist())
        assert set(posts[h, : len(solved)].tolist()) == solved
        busiest = np.argsort(-rate[h], kind="stable")
        assert posts[h, len(solved) :].tolist() == [c for c in busiest if c not in solved]


@pytest.mark.parametrize("count", [0, 17, 2.5])
def test_a_count_outside_the_grid_is_refused(tiny_district, count):
    district = tiny_district()
    with pytest.raises(ValueError, match="n_posts"):
        candidate_posts(district, IncidentModel(district), n_posts=count)
