"""Dashboard sessions: login with an API token, the cookie's flags, CSRF on every
state-changing request, and owner-only actions hidden and refused (403)."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import csrf_of


def _set_cookie(response, name: str) -> str:
    headers = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    found = [h for h in headers if h.startswith(name + "=")]
    assert found, headers
    return found[0]


def test_pages_send_a_logged_out_browser_to_login_and_back(dash) -> None:
    b = dash.browser()
    r = b.http.get("/experiments?owner=alice", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/experiments%3Fowner%3Dalice"
    form = b.http.get(r.headers["location"])
    assert 'value="/experiments?owner=alice"' in form.text
    r = b.http.post(
        "/login",
        data={
            "token": dash.tokens["alice"],
            "csrf_token": csrf_of(form.text),
            "next": "/experiments?owner=alice",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/experiments?owner=alice"


def test_session_cookie_is_httponly_samesite_strict_and_holds_no_token(dash) -> None:
    b = dash.browser()
    form = b.http.get("/login")
    login_cookie = _set_cookie(form, "cortexrnn_login").lower()
    assert "httponly" in login_cookie and "samesite=strict" in login_cookie
    r = b.http.post(
        "/login",
        data={"token": dash.tokens["alice"], "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    cookie = _set_cookie(r, "cortexrnn_session")
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "max-age=43200" in flags
    # Over plain HTTP (the test server) Secure would make the browser drop it; over HTTPS it
    # is set (see login._set_cookie).
    assert "secure" not in flags
    value = cookie.split(";")[0].split("=", 1)[1]
    assert dash.tokens["alice"] not in value and dash.tokens["alice"][5:20] not in value
    assert "alice" in b.http.get("/").text


def test_wrong_token_and_missing_login_csrf_are_refused(dash) -> None:
    b = dash.browser()
    form = b.http.get("/login")
    r = b.http.post("/login", data={"token": "crnn_nope", "csrf_token": csrf_of(form.text)})
    assert r.status_code == 401 and "not valid" in r.text
    assert "cortexrnn_session" not in b.http.cookies
    # Without the form's token (another site posting a login): refused, nothing set.
    r = b.http.post("/login", data={"token": dash.tokens["alice"]})
    assert r.status_code == 403 and "cortexrnn_session" not in b.http.cookies
    other = dash.browser()  # a login token from another browser's form does not work here
    r = other.http.post(
        "/login", data={"token": dash.tokens["alice"], "csrf_token": csrf_of(form.text)}
    )
    assert r.status_code == 403


def test_tampered_cookie_and_revoked_token_end_the_session(dash) -> None:
    from cortexrnn.shared.auth import revoke_tokens
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import User

    b = dash.browser("alice")
    value = b.http.cookies["cortexrnn_session"]
    payload, signature = value.split(".")
    b.http.cookies.set("cortexrnn_session", payload + "." + signature[:-2] + "AA")
    assert b.http.get("/", follow_redirects=False).status_code == 303
    b.http.cookies.set("cortexrnn_session", value)
    assert b.http.get("/", follow_redirects=False).status_code == 200
    with session_scope() as s:
        revoke_tokens(s, user=s.query(User).filter_by(name="alice").one())
    assert b.http.get("/", follow_redirects=False).status_code == 303


def test_an_expired_token_ends_the_session(dash) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import ApiToken, utcnow

    if not hasattr(ApiToken, "expires_at"):
        pytest.skip("this schema's tokens do not expire")
    b = dash.browser("alice")
    assert b.http.get("/", follow_redirects=False).status_code == 200
    with session_scope() as s:
        s.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert b.http.get("/", follow_redirects=False).status_code == 303


def test_login_never_forwards_to_another_site(dash) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        b = dash.browser()
        form = b.http.get("/login")
        r = b.http.post(
            "/login",
            data={"token": dash.tokens["bob"], "csrf_token": csrf_of(form.text), "next": target},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/", target


def test_every_state_changing_request_needs_the_sessions_csrf_token(dash) -> None:
    experiment = dash.submit("alice")
    alice, other = dash.browser("alice"), dash.browser("alice")
    url = f"/experiments/{experiment}/cancel"
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": other.csrf}):
        r = alice.http.post(url, data=data, follow_redirects=False)
        assert r.status_code == 403, data
        assert "CSRF" in r.text
    # A valid token from a page of another site (its Origin) is refused as well.
    r = alice.http.post(
        url,
        data={"csrf_token": alice.csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    for action, data in (("tags", {"tags": "x"}), ("retry", {})):
        r = alice.http.post(f"/experiments/{experiment}/{action}", data=data)
        assert r.status_code == 403, action
    assert alice.http.post("/logout", follow_redirects=False).status_code == 403
    with_token = alice.http.post(url, data={"csrf_token": alice.csrf}, follow_redirects=False)
    assert with_token.status_code == 303
    page = alice.http.get(f"/experiments/{experiment}")
    assert "cancelled" in page.text
    # The header form of the token (for fetch) is accepted too.
    r = alice.http.post("/logout", headers={"X-CSRF-Token": alice.csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert alice.http.get("/", follow_redirects=False).status_code == 303


def test_owner_only_actions_are_hidden_from_others_and_refused(dash) -> None:
    experiment = dash.submit("alice")
    bob = dash.browser("bob")
    page = bob.http.get(f"/experiments/{experiment}")
    assert page.status_code == 200
    assert f'action="/experiments/{experiment}/cancel"' not in page.text
    assert f'action="/experiments/{experiment}/tags"' not in page.text
    for action, data in (("cancel", {}), ("retry", {}), ("tags", {"tags": "mine"})):
        r = bob.http.post(
            f"/experiments/{experiment}/{action}",
            data={"csrf_token": bob.csrf, **data},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 403, action
        assert "only the owner" in r.text
    alice = dash.browser("alice")
    assert (
        f'action="/experiments/{experiment}/cancel"'
        in alice.http.get(f"/experiments/{experiment}").text
    )
    status = dash.browser("root")  # an admin may act on anyone's experiment
    r = status.http.post(
        f"/experiments/{experiment}/cancel",
        data={"csrf_token": status.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_the_api_never_accepts_the_session_cookie(dash) -> None:
    b = dash.browser("alice")
    r = b.http.get("/v1/experiments")
    assert r.status_code == 401
    # And the dashboard's data routes never accept a Bearer token without the cookie.
    experiment = dash.submit("alice")
    anonymous = dash.browser()
    r = anonymous.http.get(
        f"/ui/experiments/{experiment}/curves",
        headers={"Authorization": f"Bearer {dash.tokens['alice']}"},
    )
    assert r.status_code == 401


def test_pages_carry_a_strict_content_security_policy(dash) -> None:
    b = dash.browser("alice")
    for path in ("/", "/experiments", "/datasets", "/compare", "/login"):
        csp = b.http.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp
