"""What the two flow scripts share: arguments that fall back to environment variables, the
browser's part (parsing a form), the one-line JSON result and the failure exit.

Nothing here prints a secret: messages name URLs without their query (codes, tokens) and never
include client secrets, passwords, tokens or keys.
"""

import argparse
import json
import os
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit


class FlowError(Exception):
    """A step of the flow failed; the message says which and why."""


def arg(parser, name, env, help_text, required=True, default=None):
    """An option that an environment variable can give instead (secrets belong there)."""
    value = os.environ.get(env, default)
    parser.add_argument(
        name,
        default=value,
        required=required and value is None,
        help=f"{help_text} (env {env})",
    )


def no_query(url):
    """A URL without its query and fragment, safe to print."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def excerpt(response, limit=300):
    """The start of a response body, for error messages (bodies of refusals hold no secret)."""
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")


class FormParser(HTMLParser):
    """Collects the forms of a page: their action, method and named inputs."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self.links = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"id": a.get("id"), "action": a.get("action", ""), "method": a.get("method", "GET").upper(), "inputs": []}
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["inputs"].append((a["name"], a.get("value", ""), a.get("type", "text")))
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["inputs"].append((a["name"], a.get("value", ""), "submit"))
        elif tag == "a" and a.get("id") and a.get("href"):
            self.links[a["id"]] = a["href"]


def parse_page(html):
    p = FormParser()
    p.feed(html)
    return p


def emit(result):
    """The one JSON object on stdout."""
    print(json.dumps(result, sort_keys=True))


def run(main):
    """Runs `main()`; a FlowError or an unexpected exception exits 1 with a clear message."""
    try:
        emit(main())
    except FlowError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        emit({"ok": False, "error": str(e)})
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - any other failure must also exit non-zero
        print(f"FAILED: unexpected {type(e).__name__}: {no_secret_text(e)}", file=sys.stderr)
        emit({"ok": False, "error": f"unexpected {type(e).__name__}"})
        sys.exit(1)


def no_secret_text(e):
    """An exception's text with URL queries dropped (they may carry codes or tokens)."""
    words = []
    for w in str(e).split():
        words.append(no_query(w) if "://" in w else w)
    return " ".join(words)[:500]


def parser(description):
    return argparse.ArgumentParser(description=description)
