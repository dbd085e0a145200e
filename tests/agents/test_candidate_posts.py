"""Candidate posts of the macro actions: the hour's p-median sites first, then distinct
theft-aware posts and busiest cells, a fixed number per hour."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.agents.candidate_posts import candidate_posts
from patrolmarl.agents.pmedian import hourly_pmedian
from patrolmarl.envs.incidents import IncidentModel
from tests.helpers import short_busy_gaoxin


def test_posts_are_distinct_cells_led_by_the_hours_pmedian_sites():
    district = short_busy_gaoxin()
    incidents = IncidentModel(district)
    posts = candidate_posts(district, incidents)
    assert posts.shape == (24, 2 * district.n_units)
    assert all(len(np.unique(row)) == row.size for row in posts)
    sites = hourly_pmedian(district, incidents).sites
    for h in range(24):
        distinct = list(dict.fromkeys(sites[h].tolist()))
        assert posts[h, : len(distinct)].tolist() == distinct
    np.testing.assert_array_equal(posts, candidate_posts(district, incidents))


def test_the_busiest_cells_fill_a_long_list():
    district = short_busy_gaoxin()
    incidents = IncidentModel(district)
    posts = candidate_posts(district, incidents, n_posts=district.n_cells)
    assert sorted(posts[5].tolist()) == list(range(district.n_cells))
    rate = incidents.street_rate_per_minute()[5]
    tail = posts[5, 3 * district.n_units :]
    assert np.all(np.diff(rate[tail]) <= 0)


@pytest.mark.parametrize("count", [0, 10_000, 2.5])
def test_a_count_outside_the_grid_is_refused(count):
    district = short_busy_gaoxin()
    with pytest.raises(ValueError, match="n_posts"):
        candidate_posts(district, IncidentModel(district), n_posts=count)
