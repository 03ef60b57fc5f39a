#!/usr/bin/env python3
"""A tool connecting to an Atlassian application's OAuth 2.0 provider with authlib, from the
values an operator wrote into a Secret: the authorization-code flow with PKCE S256, a REST call
with the access token, a refresh, and the same call again. Prints one JSON object of results
(status codes, whether the refresh rotated the refresh token); never a secret or a token.

The user's consent is given the way a browser would (`--consent basic`, the default): follow
/authorize to the consent page, log in there with the user's Basic credentials, submit the
"Allow" form with the session the page started. `--consent control` asks the simulator's control
API to consent on the user's behalf instead (`POST <control-url>/oauth2/consent`).

Exit status 0 when the flow completed (token, both REST calls 2xx, refresh), else 1 with the
failed step on stderr.
"""

import os
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

import flowlib
from flowlib import FlowError, excerpt, no_query


def options():
    p = flowlib.parser(__doc__.split("\n\n")[0])
    flowlib.arg(p, "--client-id", "OAUTH2_CLIENT_ID", "the client id (Secret key `id`)")
    flowlib.arg(p, "--client-secret", "OAUTH2_CLIENT_SECRET", "the client secret (Secret key `secret`)")
    flowlib.arg(p, "--authorize-url", "OAUTH2_AUTHORIZE_URL", "…/rest/oauth2/latest/authorize")
    flowlib.arg(p, "--token-url", "OAUTH2_TOKEN_URL", "…/rest/oauth2/latest/token")
    flowlib.arg(p, "--username", "OAUTH2_USERNAME", "the consenting user")
    flowlib.arg(p, "--password", "OAUTH2_PASSWORD", "the consenting user's password (consent basic)", required=False)
    flowlib.arg(p, "--redirect-uri", "OAUTH2_REDIRECT_URI", "a redirect the client registered")
    flowlib.arg(p, "--scope", "OAUTH2_SCOPE", "the scope to ask for, e.g. READ")
    flowlib.arg(p, "--rest-path", "OAUTH2_REST_PATH", "a REST path to call, e.g. /rest/api/2/myself")
    flowlib.arg(p, "--base-url", "OAUTH2_BASE_URL", "base URL of the REST path (default: the authorize URL's origin)", required=False)
    flowlib.arg(p, "--consent", "OAUTH2_CONSENT", "basic or control", required=False, default="basic")
    flowlib.arg(p, "--control-url", "OAUTH2_CONTROL_URL", "the app's control API, e.g. http://127.0.0.1:PORT/_sim/apps/jira (consent control)", required=False)
    flowlib.arg(p, "--ca-bundle", "OAUTH2_CA_BUNDLE", "CA certificates for https (default: the system's)", required=False)
    flowlib.arg(p, "--timeout", "OAUTH2_TIMEOUT", "seconds per request", required=False, default="30")
    flowlib.arg(p, "--token-file", "OAUTH2_TOKEN_FILE", "write the final access token here (mode 600), for a later check that it stopped working", required=False)
    return p.parse_args()


def consent_by_browser(o, authorization_url, verify, timeout):
    """The user's browser: /authorize → consent page (Basic login) → "Allow" → the redirect."""
    if not o.password:
        raise FlowError("--consent basic needs --password (or OAUTH2_PASSWORD)")
    browser = requests.Session()
    browser.verify = verify
    r = browser.get(authorization_url, allow_redirects=False, timeout=timeout)
    if r.status_code not in (302, 303) or "Location" not in r.headers:
        raise FlowError(f"authorize: expected a redirect to the consent page, got {r.status_code}: {excerpt(r)}")
    consent_url = urljoin(authorization_url, r.headers["Location"])
    if urlsplit(consent_url).path.endswith("/oauth2/error"):
        q = parse_qs(urlsplit(consent_url).query)
        raise FlowError(f"authorize: sent to the error page: {q.get('errorName')} {q.get('errorDescription')}")
    if no_query(consent_url).startswith(no_query(o.redirect_uri)):
        q = parse_qs(urlsplit(consent_url).query)
        raise FlowError(f"authorize: refused: {q.get('error')} {q.get('error_description')}")
    r = browser.get(consent_url, auth=(o.username, o.password), allow_redirects=False, timeout=timeout)
    if r.status_code != 200:
        raise FlowError(f"consent page {no_query(consent_url)}: {r.status_code}: {excerpt(r)}")
    page = flowlib.parse_page(r.text)
    form = next((f for f in page.forms if f["id"] == "oauth2-consent"), None)
    if form is None:
        raise FlowError("consent page: no consent form")
    fields = [(k, v) for k, v, t in form["inputs"] if t != "submit"]
    action = urljoin(consent_url, form["action"])
    r = browser.get(action, params=fields, headers={"Referer": consent_url}, allow_redirects=False, timeout=timeout)
    if r.status_code not in (302, 303) or "Location" not in r.headers:
        raise FlowError(f"approval: expected a redirect, got {r.status_code}: {excerpt(r)}")
    return r.headers["Location"], r.status_code


def consent_by_control(o, authorization_url, timeout):
    if not o.control_url:
        raise FlowError("--consent control needs --control-url")
    q = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
    body = {k: q[k] for k in ("client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method") if k in q}
    body["username"] = o.username
    r = requests.post(o.control_url.rstrip("/") + "/oauth2/consent", json=body, timeout=timeout)
    if r.status_code != 200:
        raise FlowError(f"control consent: {r.status_code}: {excerpt(r)}")
    v = r.json()
    if not v.get("location"):
        raise FlowError(f"control consent: no redirect ({v.get('status')})")
    return v["location"], v["status"]


def rest_user(response):
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        return body.get("name") or body.get("username")
    return None


def main():
    o = options()
    timeout = float(o.timeout)
    verify = o.ca_bundle or True
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(o.authorize_url))
    rest_url = (o.base_url or origin).rstrip("/") + o.rest_path
    client = OAuth2Session(
        o.client_id,
        o.client_secret,
        scope=o.scope,
        redirect_uri=o.redirect_uri,
        code_challenge_method="S256",
        # The provider reads client_id and client_secret from the form only.
        token_endpoint_auth_method="client_secret_post",
    )
    client.verify = verify
    verifier = generate_token(64)
    authorization_url, state = client.create_authorization_url(o.authorize_url, code_verifier=verifier)

    if o.consent == "basic":
        redirect, consent_status = consent_by_browser(o, authorization_url, verify, timeout)
    elif o.consent == "control":
        redirect, consent_status = consent_by_control(o, authorization_url, timeout)
    else:
        raise FlowError(f"--consent must be basic or control, not {o.consent}")
    q = parse_qs(urlsplit(redirect).query)
    if "error" in q:
        raise FlowError(f"consent refused: {q['error'][0]}: {q.get('error_description', [''])[0]}")
    if not no_query(redirect).startswith(no_query(o.redirect_uri)):
        raise FlowError(f"the approval went to {no_query(redirect)}, not the redirect URI")

    try:
        token = client.fetch_token(o.token_url, authorization_response=redirect, code_verifier=verifier, timeout=timeout)
    except OAuthError as e:
        raise FlowError(f"token exchange: {e.error}: {e.description}") from None
    first = client.get(rest_url, timeout=timeout)
    if not first.ok:
        raise FlowError(f"REST {o.rest_path} with the access token: {first.status_code}: {excerpt(first)}")

    old_access, old_refresh = token["access_token"], token.get("refresh_token")
    if not old_refresh:
        raise FlowError("the token response has no refresh token")
    try:
        refreshed = client.refresh_token(o.token_url, timeout=timeout)
    except OAuthError as e:
        raise FlowError(f"refresh: {e.error}: {e.description}") from None
    second = client.get(rest_url, timeout=timeout)
    if not second.ok:
        raise FlowError(f"REST {o.rest_path} after the refresh: {second.status_code}: {excerpt(second)}")

    # What rotation means for a tool: the old refresh and access tokens no longer work.
    try:
        client.refresh_token(o.token_url, refresh_token=old_refresh, timeout=timeout)
        old_refresh_error = None
    except OAuthError as e:
        old_refresh_error = e.error
    client.token = refreshed
    old_access_status = requests.get(
        rest_url, headers={"Authorization": f"Bearer {old_access}"}, verify=verify, timeout=timeout
    ).status_code
    if o.token_file:
        fd = os.open(o.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(refreshed["access_token"])

    return {
        "ok": True,
        "library": "authlib",
        "consent": o.consent,
        "consent_status": consent_status,
        "state_matched": q.get("state", [None])[0] == state,
        "token": {
            "token_type": token.get("token_type"),
            "expires_in": token.get("expires_in"),
            "scope": token.get("scope"),
            "refresh_token_present": True,
        },
        "rest_path": o.rest_path,
        "rest_status": first.status_code,
        "rest_user": rest_user(first),
        "refresh": {
            "rotated": refreshed.get("refresh_token") not in (None, old_refresh),
            "new_access_token": refreshed.get("access_token") != old_access,
            "expires_in": refreshed.get("expires_in"),
            "scope": refreshed.get("scope"),
        },
        "rest_status_after_refresh": second.status_code,
        "old_refresh_token_error": old_refresh_error,
        "old_access_token_status": old_access_status,
    }


if __name__ == "__main__":
    flowlib.run(main)
