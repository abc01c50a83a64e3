#!/usr/bin/env python3
"""Browser test of the storefront page: drives Debian's headless Chromium through Playwright
and asserts on the rendered DOM against the documents the same origin serves.

    .local/venv/bin/python scripts/storefront-check.py --url BASE --empty-url BASE2 \
        --known N --unknown M [--screenshot PATH]

BASE serves the page with the recommendations bucket (customer N has a document, M has none);
BASE2 serves the page with an empty one. Prints `ok ...` or `FAIL ...` per check and a closing
`N passed, M failed` line; exits 1 on any failure. Normally run by storefront-check.sh, which
sets up both origins.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

# Debian's Chromium: Playwright never downloads a browser of its own here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
# How long the page may take to settle on one customer (two small GETs on loopback).
SETTLE_TIMEOUT_MS = 15_000
# A missing document: S3 behind OAC answers 403, the local stand-in 404.
MISSING_STATUSES = (403, 404)
# What the page accepts as a score rendered with two decimals.
SCORE_TOLERANCE = 0.0051


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says expected vs seen."""


class Report:
    """Counts and prints check outcomes, one line each."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, func):
        try:
            detail = func()
        except CheckFailed as failure:
            self.failed += 1
            print(f"FAIL {name}: {failure}", flush=True)
        except Exception as error:  # a browser or HTTP error fails the check, not the run
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                  flush=True)
        else:
            self.passed += 1
            print(f"ok {name}" + (f" ({detail})" if detail else ""), flush=True)

    def close(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def expect_equal(what, expected, seen):
    if expected != seen:
        raise CheckFailed(f"{what}: expected {expected!r}, seen {seen!r}")


def fetch_document(base, path):
    """The JSON document at BASE+path over plain HTTP, or None when it is missing (403/404)."""
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code in MISSING_STATUSES:
            return None
        raise CheckFailed(f"GET {base}{path}: HTTP {error.code}") from None


def customer_path(customer):
    return f"/latest/customers/{customer}.json"


def codes(items):
    return [item["product_code"] for item in items]


# --- reading the page -----------------------------------------------------------------------

def open_customer(page, base, customer):
    page.goto(f"{base}/?customer={customer}")
    return settle(page, customer)


def settle(page, customer):
    """Waits until the page has finished loading `customer` and returns its state."""
    try:
        page.wait_for_function(
            "c => document.body.dataset.customer === c && !['idle', 'loading'].includes(document.body.dataset.state)",
            arg=str(customer), timeout=SETTLE_TIMEOUT_MS)
    except Exception:
        seen = page.evaluate("() => [document.body.dataset.state, document.body.dataset.customer]")
        raise CheckFailed(f"page did not settle on customer {customer} within {SETTLE_TIMEOUT_MS} ms "
                          f"(state {seen[0]!r}, customer {seen[1]!r})") from None
    return page.evaluate("() => document.body.dataset.state")


def shown_codes(page, testid):
    return page.eval_on_selector_all(f'[data-testid="{testid}"]', "els => els.map(e => e.dataset.productCode)")


def visible(page, testid):
    return page.locator(f'[data-testid="{testid}"]').is_visible()


def text(page, testid):
    return page.locator(f'[data-testid="{testid}"]').inner_text().strip()


def card_texts(page, testid):
    return page.eval_on_selector_all(f'[data-testid="{testid}"]', """els => els.map(e => ({
        name: e.querySelector('[data-testid=card-name]').textContent,
        line: e.querySelector('[data-testid=card-line]').textContent,
        price: e.querySelector('[data-testid=card-price]').textContent,
        score: e.querySelector('[data-testid=card-score]').textContent}))""")


def expected_price(price):
    return "Price on request" if price is None else f"${price:,.2f}"


def expect_cards(page, testid, items, what):
    """The cards show `items` in order, each with its name (or code), line, price and score."""
    expect_equal(f"{what} product codes in order", codes(items), shown_codes(page, testid))
    for item, card in zip(items, card_texts(page, testid)):
        at = f"{what} card {item['product_code']}"
        expect_equal(f"{at} name", item.get("name") or item["product_code"], card["name"])
        if item.get("product_line"):
            expect_equal(f"{at} product line", item["product_line"], card["line"])
        expect_equal(f"{at} price", expected_price(item.get("price")), card["price"])
        shown_score = float(card["score"].split()[-1])
        if abs(shown_score - item["score"]) > SCORE_TOLERANCE:
            raise CheckFailed(f"{at} score: expected {item['score']:.2f}, seen {card['score']!r}")


def expect_similar(page, doc, what):
    if doc["similar_to_session"]:
        if not visible(page, "similar-row"):
            raise CheckFailed(f"{what}: similar row hidden, expected {len(doc['similar_to_session'])} items")
        expect_cards(page, "similar-card", doc["similar_to_session"], f"{what} similar")
    elif visible(page, "similar-row"):
        raise CheckFailed(f"{what}: similar row shown for an empty similar_to_session")


def expect_provenance(page, doc, what):
    if not visible(page, "provenance"):
        raise CheckFailed(f"{what}: provenance footer hidden")
    p = doc["provenance"]
    expect_equal(f"{what} recommendation id", p["recommendation_id"], text(page, "provenance-recommendation-id"))
    expect_equal(f"{what} model version", p["model_version"], text(page, "provenance-model-version"))
    expect_equal(f"{what} embedding version", p["embedding_version"], text(page, "provenance-embedding-version"))
    expect_equal(f"{what} generated-at", p["generated_at"],
                 page.locator('[data-testid="provenance-generated-at"]').get_attribute("datetime"))
    if not text(page, "provenance-source").startswith(doc["source"]):
        raise CheckFailed(f"{what} source: expected {doc['source']!r}, seen {text(page, 'provenance-source')!r}")


# --- the checks --------------------------------------------------------------------------------

def run_checks(args, context, report):
    page_errors = []
    known_doc = {}
    popular_doc = {}

    def new_page():
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        return page

    page = new_page()

    def known_customer():
        doc = fetch_document(args.url, customer_path(args.known))
        if doc is None:
            raise CheckFailed(f"customer {args.known} has no document at {args.url}{customer_path(args.known)}")
        known_doc.update(doc)
        expect_equal("page state", "ready", open_customer(page, args.url, args.known))
        expect_cards(page, "card", doc["recommended"], "recommended")
        expect_similar(page, doc, "similar")
        expect_provenance(page, doc, "provenance")
        if visible(page, "fallback-banner"):
            raise CheckFailed("fallback banner shown for a customer with a document")
        if args.screenshot:
            page.screenshot(path=args.screenshot)
        return (f"{len(doc['recommended'])} cards, {len(doc['similar_to_session'])} similar, "
                f"id {doc['provenance']['recommendation_id']}")

    def unknown_customer():
        if fetch_document(args.url, customer_path(args.unknown)) is not None:
            raise CheckFailed(f"customer {args.unknown} was meant to be unknown but has a document")
        doc = fetch_document(args.url, "/latest/popular.json")
        if doc is None:
            raise CheckFailed(f"no popular document at {args.url}/latest/popular.json")
        popular_doc.update(doc)
        other = new_page()
        try:
            expect_equal("page state", "fallback", open_customer(other, args.url, args.unknown))
            if not visible(other, "fallback-banner"):
                raise CheckFailed("fallback banner hidden")
            banner = text(other, "fallback-banner")
            if "Popular" not in banner:
                raise CheckFailed(f"fallback banner does not say it is the popular list: {banner!r}")
            expect_cards(other, "card", doc["recommended"], "popular")
            expect_similar(other, doc, "popular similar")
            expect_provenance(other, doc, "popular provenance")
        finally:
            other.close()
        return f"{len(doc['recommended'])} popular cards"

    def no_documents():
        other = new_page()
        try:
            expect_equal("page state", "empty", open_customer(other, args.empty_url, args.known))
            if not visible(other, "state-empty"):
                raise CheckFailed("empty state hidden")
            expect_equal("cards", 0, len(shown_codes(other, "card")) + len(shown_codes(other, "similar-card")))
            for testid in ("state-error", "state-loading", "fallback-banner", "provenance"):
                if visible(other, testid):
                    raise CheckFailed(f"{testid} shown in the empty state")
        finally:
            other.close()

    def typing_a_customer():
        if not known_doc or not popular_doc:
            raise CheckFailed("needs the documents of checks (a) and (b)")
        page.locator('[data-testid="customer-input"]').fill(str(args.unknown))
        page.locator('[data-testid="customer-submit"]').click()
        expect_equal("page state", "fallback", settle(page, args.unknown))
        expect_equal("address", f"?customer={args.unknown}", page.evaluate("() => window.location.search"))
        expect_cards(page, "card", popular_doc["recommended"], "cards after typing")
        # And back: the known customer's own cards replace the popular ones.
        page.locator('[data-testid="customer-input"]').fill(str(args.known))
        page.locator('[data-testid="customer-input"]').press("Enter")
        expect_equal("page state", "ready", settle(page, args.known))
        expect_equal("address", f"?customer={args.known}", page.evaluate("() => window.location.search"))
        expect_cards(page, "card", known_doc["recommended"], "cards after typing back")

    def with_answer(status, body, content_type="application/json"):
        """A page whose request for the known customer's document gets this answer instead."""
        other = new_page()
        try:
            other.route(f"**{customer_path(args.known)}",
                        lambda route: route.fulfill(status=status, body=body, content_type=content_type))
            return other, open_customer(other, args.url, args.known)
        except BaseException:
            other.close()
            raise

    def forbidden_is_missing():
        if not popular_doc:
            raise CheckFailed("needs the popular document of check (b)")
        other, state = with_answer(403, "<Error><Code>AccessDenied</Code></Error>", "application/xml")
        try:
            expect_equal("page state", "fallback", state)
            expect_cards(other, "card", popular_doc["recommended"], "popular after 403")
        finally:
            other.close()

    def error_states():
        seen = []
        for status, body, needle in ((500, "boom", "HTTP 500"), (200, "{not json", "malformed JSON"),
                                     (200, '{"schema_version": 1}', "source")):
            other, state = with_answer(status, body)
            try:
                expect_equal(f"page state for {status} {body!r}", "error", state)
                message = text(other, "error-message")
                if needle not in message or customer_path(args.known) not in message:
                    raise CheckFailed(f"error message for {status} {body!r} should name the path and "
                                      f"{needle!r}, seen {message!r}")
                expect_equal("cards in the error state", [], shown_codes(other, "card"))
                seen.append(needle)
            finally:
                other.close()
        return ", ".join(seen)

    def text_is_escaped():
        hostile = "<img src=x onerror=\"window.__pwned=1\"> & <b>bold</b>"
        doc = {"schema_version": 1, "customer_number": int(args.known), "source": "batch",
               "recommended": [{"product_code": "X<1>", "name": hostile, "product_line": "<i>Ships</i>",
                                "price": 1234.5, "score": 0.5}],
               "similar_to_session": [],
               "provenance": {"recommendation_id": "<script>x</script>", "model_version": "m",
                              "embedding_version": "e", "generated_at": "2026-12-02T10:00:00.123Z"}}
        other, state = with_answer(200, json.dumps(doc))
        try:
            expect_equal("page state", "ready", state)
            expect_cards(other, "card", doc["recommended"], "hostile")
            expect_equal("elements injected", 0, other.locator("main img, main b, main i, footer script").count())
            expect_equal("script ran", None, other.evaluate("() => window.__pwned ?? null"))
        finally:
            other.close()

    report.check(f"a: customer {args.known} sees the cards of their document", known_customer)
    report.check(f"b: unknown customer {args.unknown} sees the popular fallback", unknown_customer)
    report.check(f"c: customer {args.known} with no documents at all sees the empty state", no_documents)
    report.check("d: typing a customer number updates the address and the cards", typing_a_customer)
    report.check("e: a 403 for the customer's document means no document (OAC)", forbidden_is_missing)
    report.check("f: HTTP errors and malformed documents show the error state", error_states)
    report.check("g: document text is shown as text, never as markup", text_is_escaped)
    report.check("h: no uncaught script errors", lambda: expect_equal("page errors", [], page_errors))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="origin serving the page and the documents")
    parser.add_argument("--empty-url", required=True, help="origin serving the page and no documents")
    parser.add_argument("--known", required=True, type=int, help="customer with a document")
    parser.add_argument("--unknown", required=True, type=int, help="customer without a document")
    parser.add_argument("--screenshot", help="PNG of check (a) at 1280x900")
    args = parser.parse_args(argv)
    args.url = args.url.rstrip("/")
    args.empty_url = args.empty_url.rstrip("/")
    return args


def main(argv):
    args = parse_args(argv)
    report = Report()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        print(f"FAIL browser: Playwright is not installed ({error}); run: bash scripts/local-install.sh --with-browser")
        report.failed += 1
        return report.close()
    started = time.monotonic()
    profile = tempfile.mkdtemp(prefix="reco-storefront-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
            try:
                run_checks(args, context, report)
            finally:
                context.close()
    except Exception as error:  # the browser did not start: one failure, said plainly
        print(f"FAIL browser: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        report.failed += 1
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    print(f"# checks took {time.monotonic() - started:.1f} s", flush=True)
    return report.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
