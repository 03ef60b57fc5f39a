#!/usr/bin/env python3
"""A tool using an incoming OAuth 1.0a consumer of an Atlassian application with authlib, from a
consumer key and a PEM private key (the keys Eclipse Che's OAuth 1 Secret holds:
`consumer.key`, `private.key`): the three-legged RSA-SHA1 dance (request token, the user's
approval, access token) and a REST call signed with the access token. Prints one JSON object of
results; never a key, a token or a password.

The user approves the way a browser would: the authorize page, logged in with the user's Basic
credentials, and its form submitted with "Allow" (the page's XSRF cookie and token included).

Exit status 0 when the dance completed and the REST call answered 2xx, else 1 with the failed
step on stderr.
"""

from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth1Session
from authlib.oauth1 import SIGNATURE_RSA_SHA1

import flowlib
from flowlib import FlowError, excerpt, no_query


def options():
    p = flowlib.parser(__doc__.split("\n\n")[0])
    flowlib.arg(p, "--consumer-key", "OAUTH1_CONSUMER_KEY", "the consumer key (Secret key `consumer.key`)")
    flowlib.arg(p, "--private-key-file", "OAUTH1_PRIVATE_KEY_FILE", "PEM private key file (Secret key `private.key`)")
    flowlib.arg(p, "--base-url", "OAUTH1_BASE_URL", "the application's base URL")
    flowlib.arg(p, "--username", "OAUTH1_USERNAME", "the approving user")
    flowlib.arg(p, "--password", "OAUTH1_PASSWORD", "the approving user's password")
    flowlib.arg(p, "--callback", "OAUTH1_CALLBACK", "the callback URL (http/https) or oob", required=False, default="http://localhost:8765/oauth1/callback")
    flowlib.arg(p, "--rest-path", "OAUTH1_REST_PATH", "a REST path to call, e.g. /rest/api/2/myself")
    flowlib.arg(p, "--ca-bundle", "OAUTH1_CA_BUNDLE", "CA certificates for https (default: the system's)", required=False)
    flowlib.arg(p, "--timeout", "OAUTH1_TIMEOUT", "seconds per request", required=False, default="30")
    return p.parse_args()


def approve(o, authorize_url, verify, timeout):
    """The user's browser: the authorize page (Basic login), then its form with "Allow"."""
    browser = requests.Session()
    browser.verify = verify
    r = browser.get(authorize_url, auth=(o.username, o.password), allow_redirects=False, timeout=timeout)
    if r.status_code != 200:
        raise FlowError(f"authorize page {no_query(authorize_url)}: {r.status_code}: {excerpt(r)}")
    page = flowlib.parse_page(r.text)
    form = next((f for f in page.forms if f["id"] == "oauth-authorize"), None)
    if form is None:
        raise FlowError("authorize page: no authorize form")
    fields = [(k, v) for k, v, t in form["inputs"] if t != "submit"] + [("approve", "Allow")]
    r = browser.post(
        urljoin(authorize_url, form["action"]),
        data=fields,
        auth=(o.username, o.password),
        allow_redirects=False,
        timeout=timeout,
    )
    if o.callback == "oob":
        if r.status_code != 200 or 'id="oauth_verifier">' not in r.text:
            raise FlowError(f"approval (oob): {r.status_code}: no verifier on the page")
        verifier = r.text.split('id="oauth_verifier">', 1)[1].split("<", 1)[0]
        return None, verifier, r.status_code
    if r.status_code not in (302, 303) or "Location" not in r.headers:
        raise FlowError(f"approval: expected a redirect to the callback, got {r.status_code}: {excerpt(r)}")
    location = r.headers["Location"]
    if not no_query(location).startswith(no_query(o.callback)):
        raise FlowError(f"approval went to {no_query(location)}, not the callback")
    verifier = parse_qs(urlsplit(location).query).get("oauth_verifier", [""])[0]
    if verifier in ("", "denied"):
        raise FlowError(f"approval: no verifier ({verifier or 'missing'})")
    return location, verifier, r.status_code


def main():
    o = options()
    timeout = float(o.timeout)
    verify = o.ca_bundle or True
    with open(o.private_key_file, encoding="ascii") as f:
        pem = f.read()
    base = o.base_url.rstrip("/")
    session = OAuth1Session(
        o.consumer_key,
        signature_method=SIGNATURE_RSA_SHA1,
        rsa_key=pem,
        redirect_uri=o.callback,
    )
    session.verify = verify
    try:
        request_token = session.fetch_request_token(f"{base}/plugins/servlet/oauth/request-token", timeout=timeout)
    except OAuthError as e:
        raise FlowError(f"request token: {e.error}: {e.description}") from None
    authorize_url = session.create_authorization_url(f"{base}/plugins/servlet/oauth/authorize")
    location, verifier, approve_status = approve(o, authorize_url, verify, timeout)
    if location:
        session.parse_authorization_response(location)
    try:
        access = session.fetch_access_token(f"{base}/plugins/servlet/oauth/access-token", verifier=verifier, timeout=timeout)
    except OAuthError as e:
        raise FlowError(f"access token: {e.error}: {e.description}") from None
    r = session.get(base + o.rest_path, timeout=timeout)
    if not r.ok:
        raise FlowError(f"REST {o.rest_path} signed with the access token: {r.status_code}: {excerpt(r)}")
    try:
        body = r.json()
    except ValueError:
        body = None
    return {
        "ok": True,
        "library": "authlib",
        "signature_method": SIGNATURE_RSA_SHA1,
        "callback_confirmed": request_token.get("oauth_callback_confirmed") == "true",
        "approve_status": approve_status,
        "verifier_length": len(verifier),
        "access_token": {
            "expires_in": access.get("oauth_expires_in"),
            "authorization_expires_in": access.get("oauth_authorization_expires_in"),
        },
        "rest_path": o.rest_path,
        "rest_status": r.status_code,
        "rest_user": (body.get("name") or body.get("username")) if isinstance(body, dict) else None,
    }


if __name__ == "__main__":
    flowlib.run(main)
