"""The dashboard's pages and data routes over HTTP: queue, search, the experiment page's
aggregates, statistics, downloads, tags, compare, datasets, and the offline API docs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import accuracy, finish_runs


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert match, "no page data"
    return json.loads(match.group(1))


def test_queue_page_says_why_experiments_wait_and_ranks_users(dash) -> None:
    first = dash.submit("alice", name="alice-first")
    dash.submit("bob", name="bob-first", seeds=2)
    page = dash.browser("alice").http.get("/")
    assert page.status_code == 200
    text = page.text
    assert "No worker has registered yet" in text
    assert f"#{first} alice-first" in text and "bob-first" in text
    assert "no live worker serves queue" in text
    fair = text[text.index('id="fair-share"') :]
    assert "alice" in fair and "bob" in fair


def test_experiments_table_searches_by_every_field_and_sorts(dash) -> None:
    a = dash.submit("alice", name="fidelity-paper", tags=["paper"])
    b = dash.submit("bob", name="fidelity-corrected", tags=["fix"], seeds=2)
    finish_runs(b, dash.home / "artifacts")
    http = dash.browser("alice").http

    def ids(query: str) -> list[int]:
        html = http.get("/experiments?" + query).text
        return [int(i) for i in re.findall(r'name="ids" value="(\d+)"', html)]

    assert ids("") == [b, a]
    assert ids("name=PAPER") == [a]
    assert ids("tag=fix") == [b]
    assert ids("owner=alice") == [a]
    assert ids("status=succeeded") == [b]
    assert ids("dataset=tiny") == [b, a] and ids("dataset=other") == []
    assert ids("spec=seeds=2") == [b]
    assert ids("spec=training.epochs=3+sampling.n_neurons=12") == [b, a]
    assert ids("spec=functional") == [b, a]  # a bare word anywhere in the spec
    assert ids("spec=training.epochs=4") == []
    assert ids("sort=progress&order=desc") == [b, a]
    assert ids("sort=progress&order=asc") == [a, b]
    assert ids("sort=name&order=asc") == [b, a]
    assert "100 %" in http.get("/experiments?status=succeeded").text


def test_experiments_table_counts_cancelled_and_failed_runs_as_not_done(dash) -> None:
    """A cancelled experiment never reads 100 % in the table: only succeeded runs are done
    (shared/progress.py's rule, the experiment page's and the client's), and the cancelled
    and failed runs are counted apart."""
    stopped = dash.submit("alice", name="stopped-early")  # 8 runs
    finish_runs(stopped, dash.home / "artifacts", only=4, fail=frozenset({("baseline", 0)}))
    with TestClient(dash.app) as api:
        cancel = api.post(
            f"/v1/experiments/{stopped}/cancel",
            headers={"Authorization": f"Bearer {dash.tokens['alice']}"},
        )
    assert cancel.status_code == 200, cancel.text
    complete = dash.submit("alice", name="complete", seeds=1)
    finish_runs(complete, dash.home / "artifacts")
    http = dash.browser("alice").http

    html = http.get("/experiments?name=stopped-early").text
    row = html[html.index(f'value="{stopped}"') :]
    cell = row[row.index('class="progress-cell"') : row.index("</tr>")]
    assert 'value="37.5"' in cell and "38 %" in cell  # 3 of 8 succeeded
    assert '<span class="count c-succeeded">3 succeeded</span>' in cell
    assert '<span class="count c-failed">1 failed</span>' in cell
    assert '<span class="count c-cancelled">4 cancelled</span>' in cell
    assert "100 %" not in cell
    page = http.get(f"/experiments/{stopped}").text
    assert re.search(r'<span id="percent">37\.5 %</span>', page)  # the same number

    ids = [int(i) for i in re.findall(r'name="ids" value="(\d+)"', html)]
    assert ids == [stopped]
    by_progress = http.get("/experiments?sort=progress&order=desc").text
    ranked = [int(i) for i in re.findall(r'name="ids" value="(\d+)"', by_progress)]
    assert ranked == [complete, stopped]


def test_experiment_page_embeds_curves_and_finals_aggregated_over_seeds(dash) -> None:
    experiment = dash.submit("alice")
    finish_runs(experiment, dash.home / "artifacts", only=6)  # 2 of 8 runs still waiting
    page = dash.browser("alice").http.get(f"/experiments/{experiment}")
    assert page.status_code == 200
    data = page_data(page.text)
    assert data["status"] == "active" and "test_acc" in data["curveNames"]
    curves = data["curves"]
    assert curves["metric"] == "test_acc"
    (task,) = curves["tasks"]
    assert task["x"] == [1, 2, 3] and task["chance"] == 0.5
    by_name = {c["name"]: c for c in task["conditions"]}
    bio = by_name["bio"]
    seeds = sorted(s["seed"] for s in bio["seeds"])
    final = [accuracy("bio", s) for s in seeds]
    assert np.isclose(bio["mean"][-1], np.mean(final), atol=1e-4)
    assert (
        min(final) - 1e-4
        <= bio["low"][-1]
        <= bio["mean"][-1]
        <= bio["high"][-1]
        <= max(final) + 1e-4
    )
    finals = data["finals"]["tasks"][0]
    assert finals["conditions"] == ["baseline", "bio"]
    assert len(finals["points"]) == 6
    assert page.text.count('class="cell s-') == 8  # the grid shows every run as a cell
    other = dash.browser("alice").http.get(
        f"/ui/experiments/{experiment}/curves", params={"metric": "train_loss"}
    )
    assert other.json()["metric"] == "train_loss" and other.json()["tasks"][0]["chance"] is None


def test_statistics_fragment_marks_significant_rows(dash) -> None:
    experiment = dash.submit("alice", seeds=6)
    finish_runs(experiment, dash.home / "artifacts")
    http = dash.browser("alice").http
    html = http.get(f"/ui/experiments/{experiment}/stats").text
    assert 'id="stats-summary"' in html and 'id="stats-pairwise"' in html
    pairwise = html[html.index('id="stats-pairwise"') :]
    pairwise = pairwise[: pairwise.index("</details>")]
    rows = re.findall(
        r"<tr( class=\"significant\")?>\s*<td>go_no_go</td>\s*<td>(\w+)</td>", pairwise
    )
    marked = {metric for cls, metric in rows if cls}
    assert "test_acc" in marked  # bio 0.9x against baseline 0.5x, six seeds each
    assert "★" in pairwise
    again = http.get(f"/ui/experiments/{experiment}/stats").text
    assert again == html  # cached until a run finishes


def test_downloads_and_report_link_answer_for_the_logged_in_user(dash) -> None:
    experiment = dash.submit("alice", seeds=2)
    http = dash.browser("bob").http  # everyone may read
    assert http.get(f"/ui/experiments/{experiment}/report").status_code == 409
    finish_runs(experiment, dash.home / "artifacts", fail=frozenset({("baseline", 1)}))
    csv_text = http.get(f"/ui/experiments/{experiment}/results.csv").text
    header, *lines = csv_text.strip().splitlines()
    assert header.startswith("run_id,condition,task,seed,state,cached_from_id")
    assert "test_acc" in header and len(lines) == 4
    assert any(",failed," in line for line in lines)
    spec = http.get(f"/ui/experiments/{experiment}/spec.json")
    assert spec.json()["dataset"] == "tiny"
    assert "attachment" in spec.headers["content-disposition"]
    page = http.get(f"/experiments/{experiment}").text
    assert "diverged: a retry repeats the same inputs" not in page  # bob may not retry
    owner_page = dash.browser("alice").http.get(f"/experiments/{experiment}").text
    assert "Retry 1 runs" in owner_page and "a retry repeats the same inputs" in owner_page
    run_id = int(re.findall(r'data-run="(\d+)"', page)[0])
    maps = http.get(f"/ui/runs/{run_id}/heatmaps").json()
    assert [m["title"] for m in maps["images"]] == ["Initial W", "Final W"]
    assert maps["images"][0]["rows"] == 12 and maps["images"][0]["diverging"]
    assert http.get(f"/ui/runs/{run_id}/weights.npz").content[:2] == b"PK"


def test_tags_are_edited_by_the_owner_with_the_specs_rules(dash) -> None:
    experiment = dash.submit("alice", tags=["old"])
    alice = dash.browser("alice")
    r = alice.http.post(
        f"/experiments/{experiment}/tags",
        data={"csrf_token": alice.csrf, "tags": "paper, v2  v2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with dash.browser("alice").http as api:
        got = api.get(
            f"/v1/experiments/{experiment}",
            headers={"Authorization": f"Bearer {dash.tokens['alice']}"},
        ).json()
    assert got["tags"] == ["paper", "v2"]
    r = alice.http.post(
        f"/experiments/{experiment}/tags", data={"csrf_token": alice.csrf, "tags": "a/b"}
    )
    assert r.status_code == 422 and "not allowed" in r.text


def test_notes_are_written_by_the_owner_shown_on_the_page_and_refused_for_others(dash) -> None:
    experiment = dash.submit("alice")
    alice, bob = dash.browser("alice"), dash.browser("bob")
    text = "seed 3 diverged: rerun at lr 5e-4\nsee <the lab log>"
    r = alice.http.post(
        f"/experiments/{experiment}/notes",
        data={"csrf_token": alice.csrf, "notes": text},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = alice.http.get(f"/experiments/{experiment}").text
    # Shown escaped, with its line break kept by the page's style.
    assert "seed 3 diverged: rerun at lr 5e-4\nsee &lt;the lab log&gt;" in page
    r = bob.http.post(
        f"/experiments/{experiment}/notes", data={"csrf_token": bob.csrf, "notes": "mine now"}
    )
    assert r.status_code == 403
    r = alice.http.post(
        f"/experiments/{experiment}/notes", data={"csrf_token": alice.csrf, "notes": "a\x00b"}
    )
    assert r.status_code == 422 and "control characters" in r.text
    # Through the API too, with the same rules; the notes are kept after each refusal.
    headers = {"Authorization": f"Bearer {dash.tokens['alice']}"}
    with dash.browser("alice").http as api:
        got = api.get(f"/v1/experiments/{experiment}", headers=headers).json()
        assert got["notes"] == text
        r = api.patch(
            f"/v1/experiments/{experiment}", headers=headers, json={"notes": "x" * 10_001}
        )
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == "notes"
        r = api.patch(
            f"/v1/experiments/{experiment}", headers=headers, json={"tags": ["ok"], "notes": ""}
        )
        assert r.status_code == 200 and r.json()["tags"] == ["ok"] and r.json()["notes"] is None
        other = {"Authorization": f"Bearer {dash.tokens['bob']}"}
        r = api.patch(f"/v1/experiments/{experiment}", headers=other, json={"notes": "no"})
        assert r.status_code in (403, 404)
        r = api.patch(f"/v1/experiments/{experiment}", headers=headers, json={"tags": ["a/b"]})
        assert r.status_code == 422
        assert api.get(f"/v1/experiments/{experiment}", headers=headers).json()["tags"] == ["ok"]


def test_compare_puts_experiments_side_by_side_on_shared_conditions(dash) -> None:
    a = dash.submit("alice", name="paper")
    b = dash.submit(
        "alice",
        name="corrected",
        conditions={"baseline": {"init": "orthogonal"}, "bio": {"init": "functional"},
                    "extra": {"init": "orthogonal", "lam": 0.1}},
    )  # fmt: skip
    for e in (a, b):
        finish_runs(e, dash.home / "artifacts")
    http = dash.browser("bob").http
    page = http.get(f"/compare?ids={a},{b}")
    assert page.status_code == 200
    data = page_data(page.text)
    assert data["conditions"] == ["baseline", "bio"] and data["tasks"] == ["go_no_go"]
    assert [e["id"] for e in data["experiments"]] == [a, b]
    table = page.text[page.text.index('id="compare-table"') :]
    assert table.count("<tr><td>go_no_go</td>") == 2 * 2  # 2 metrics with values × 2 shared
    everything = page_data(http.get(f"/compare?ids={a}&ids={b}&all_conditions=true").text)
    assert everything["conditions"] == ["baseline", "bio", "extra"]
    assert "Pick two or more" in http.get(f"/compare?ids={a}").text


def test_datasets_list_neurons_and_matrices(dash) -> None:
    http = dash.browser("alice").http
    listing = http.get("/datasets").text
    assert 'href="/datasets/tiny"' in listing
    page = http.get("/datasets/tiny")
    data = page_data(page.text)
    neurons = data["neurons"]
    assert neurons["n"] == 80 and len(neurons["x"]) == 80 and neurons["fields"]
    for kind in ("synapse_counts", "distances", "communicability"):
        assert f'data-kind="{kind}"' in page.text
        m = http.get(f"/ui/datasets/tiny/matrix/{kind}").json()
        assert m["rows"] == m["cols"] == 80 and len(m["data"]) > 100, kind
    assert http.get("/ui/datasets/tiny/matrix/nonsense").status_code == 404
    assert http.get("/datasets/missing").status_code == 404


def test_docs_and_redoc_load_only_packaged_assets(dash) -> None:
    http = dash.browser().http  # the API docs need no login
    for path in ("/docs", "/redoc"):
        html = http.get(path).text
        for external in ("cdn.", "googleapis", "tiangolo.com", "unpkg", "validator.swagger"):
            assert external not in html, (path, external)
        for src in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html):
            assert http.get(src).status_code == 200, src
    assert '"validatorUrl": null' in http.get("/docs").text
    for licence in ("uplot/LICENSE", "swagger-ui/LICENSE", "redoc/LICENSE"):
        assert http.get(f"/ui/static/vendor/{licence}").status_code == 200


def test_event_stream_reaches_the_browser_through_the_cookie(dash) -> None:
    experiment = dash.submit("alice", seeds=1)
    finish_runs(experiment, dash.home / "artifacts")
    http = dash.browser("bob").http
    with http.stream("GET", f"/ui/experiments/{experiment}/events") as response:
        assert response.status_code == 200
        body = "".join(response.iter_text())
    assert "event: progress" in body and "event: done" in body
    assert http.get("/ui/experiments/999/events").status_code == 404


def _long_series_and_every_page(dash) -> None:
    experiment = dash.submit("alice", name="long")
    dash.submit("bob", name="waiting")
    finish_runs(experiment, dash.home / "artifacts", steps=450)
    http = dash.browser("alice").http
    curves = http.get(f"/ui/experiments/{experiment}/curves", params={"metric": "step_loss"})
    (task,) = curves.json()["tasks"]
    assert task["binned"] and len(task["x"]) <= 200 and task["x"] == sorted(task["x"])
    first = {c["name"]: c for c in task["conditions"]}["bio"]
    assert first["n"] == 4 and 0.5 < first["mean"][0] < 1.1  # 1/k over the first bin, k=1..3
    assert abs(first["mean"][-1] - (1 / 450 + 0.015)) < 0.01
    for path in (
        "/",
        "/experiments?dataset=tiny&sort=progress",
        f"/experiments/{experiment}",
        f"/compare?ids={experiment},{experiment + 1}",
        "/datasets",
        "/datasets/tiny",
    ):
        assert http.get(path).status_code == 200, path  # fmt: skip
    assert "waiting" in http.get("/experiments?dataset=tiny&spec=seeds=4").text


def test_long_series_are_binned_by_the_database(dash) -> None:
    _long_series_and_every_page(dash)


@pytest.mark.postgres
def test_every_page_and_binned_series_on_postgres(dash_pg) -> None:
    _long_series_and_every_page(dash_pg)
