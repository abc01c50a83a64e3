// Storefront page: shows one customer's latest recommendation document, or the popular
// fallback, as served from the recommendations bucket under /latest/ on the page's own origin.
// The document layout is the serving contract in crates/reco-domain/src/serving.rs.

/** Highest document layout this page understands (`LATEST_DOCUMENT_SCHEMA`). */
const SUPPORTED_SCHEMA = 1;
/** Key of the fallback document for customers the model does not know. */
const POPULAR_PATH = "/latest/popular.json";
/** S3 behind CloudFront's origin access control, without ListBucket, answers 403 for a
 * missing key; the local stand-in answers 404. Both mean "no document". */
const MISSING_STATUSES = new Set([403, 404]);
/** One small GET should take milliseconds; past this the page says so instead of spinning. */
const FETCH_TIMEOUT_MS = 10_000;
/** Customer numbers are an i64 in the contract; 18 digits always fit. */
const CUSTOMER_NUMBER = /^[0-9]{1,18}$/;
/** Prices are the catalogue's MSRP, in US dollars. */
const PRICE_FORMAT = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const GENERATED_AT_FORMAT = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium", timeStyle: "medium", timeZone: "UTC",
});
const SOURCE_LABELS = {
  stream: "stream — from the latest visit",
  batch: "batch — daily picks",
  popular: "popular — most rated by all customers",
};

/** Key of a customer's latest document: `latest/customers/<number>.json`. */
function customerDocumentPath(customerNumber) {
  return `/latest/customers/${customerNumber}.json`;
}

/** A document that could not be fetched or read: names the path and what went wrong. */
class DocumentLoadError extends Error {
  constructor(path, reason) {
    super(`${path}: ${reason}`);
    this.name = "DocumentLoadError";
  }
}

/** Fetches and checks the document at `path`; `null` when there is none (403 or 404). */
async function fetchDocument(path, loadSignal) {
  const signal = AbortSignal.any([loadSignal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]);
  let response;
  let text;
  try {
    response = await fetch(path, { signal, headers: { Accept: "application/json" } });
    if (MISSING_STATUSES.has(response.status)) return null;
    if (!response.ok) {
      throw new DocumentLoadError(path, `the server answered HTTP ${response.status}`);
    }
    text = await response.text();
  } catch (error) {
    if (error instanceof DocumentLoadError || loadSignal.aborted) throw error;
    if (error.name === "TimeoutError") {
      throw new DocumentLoadError(path, `no answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    }
    throw new DocumentLoadError(path, `network error (${error.message})`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DocumentLoadError(path, `malformed JSON (${error.message})`);
  }
  return checkDocument(value, path);
}

/** Checks the parts of a document the page shows; throws naming the first bad field. */
function checkDocument(doc, path) {
  const bad = (field, expected) => {
    throw new DocumentLoadError(path, `not a recommendation document: ${field} should be ${expected}`);
  };
  const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
  const nullableString = (v) => v === null || v === undefined || typeof v === "string";
  if (!isObject(doc)) bad("the document", "a JSON object");
  if (!Number.isInteger(doc.schema_version)) bad("schema_version", "an integer");
  if (doc.schema_version > SUPPORTED_SCHEMA) {
    throw new DocumentLoadError(path,
      `document schema ${doc.schema_version} is newer than this page's ${SUPPORTED_SCHEMA}; reload the page`);
  }
  if (typeof doc.source !== "string") bad("source", "a string");
  for (const list of ["recommended", "similar_to_session"]) {
    if (!Array.isArray(doc[list])) bad(list, "a list");
    doc[list].forEach((item, i) => {
      const at = `${list}[${i}]`;
      if (!isObject(item)) bad(at, "an object");
      if (typeof item.product_code !== "string" || item.product_code === "") bad(`${at}.product_code`, "a product code");
      if (!nullableString(item.name)) bad(`${at}.name`, "a string or null");
      if (!nullableString(item.product_line)) bad(`${at}.product_line`, "a string or null");
      if (!(item.price === null || item.price === undefined || Number.isFinite(item.price))) bad(`${at}.price`, "a number or null");
      if (!Number.isFinite(item.score)) bad(`${at}.score`, "a number");
    });
  }
  if (!isObject(doc.provenance)) bad("provenance", "an object");
  for (const field of ["recommendation_id", "model_version", "embedding_version", "generated_at"]) {
    if (typeof doc.provenance[field] !== "string") bad(`provenance.${field}`, "a string");
  }
  return doc;
}

// --- rendering ---------------------------------------------------------------------------

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const STATE_SECTIONS = ["state-loading", "state-empty", "state-error"];
const CONTENT_SECTIONS = ["recommended-row", "similar-row", "provenance", "fallback-banner"];

/** Shows one of the page's states; `state` is also exposed as `body[data-state]`. */
function showState(state, customerNumber) {
  document.body.dataset.state = state;
  document.body.dataset.customer = customerNumber ?? "";
  for (const id of STATE_SECTIONS) $(id).hidden = id !== `state-${state}`;
  for (const id of CONTENT_SECTIONS) $(id).hidden = true;
  if (state !== "ready" && state !== "fallback") {
    $("recommended-list").replaceChildren();
    $("similar-list").replaceChildren();
  }
}

function setHeadline(title, subtitle) {
  document.getElementById("page-title").textContent = title;
  document.getElementById("page-subtitle").textContent = subtitle;
}

/** A URL-safe name of a product line, for its colour on the card. */
function lineSlug(productLine) {
  return (productLine ?? "unknown").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

/** One product card; every text goes through textContent. */
function productCard(item, testid) {
  const card = document.getElementById("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.testid = testid;
  card.dataset.productCode = item.product_code;
  card.dataset.line = lineSlug(item.product_line);
  const known = typeof item.name === "string" && item.name !== "";
  // Model names start with the year of the original ("1969 Harley Davidson ..."): the art shows it.
  const year = known ? item.name.match(/^(1[89]|20)\d\d\b/) : null;
  const art = card.querySelector(".card__art-text");
  art.textContent = year ? year[0] : item.product_code;
  art.classList.toggle("card__art-text--code", !year);
  card.querySelector(".card__line").textContent = item.product_line ?? "Product line unknown";
  card.querySelector(".card__name").textContent = known ? item.name : item.product_code;
  card.querySelector(".card__code").textContent = known ? item.product_code : "Not in the catalogue yet";
  const price = card.querySelector(".card__price");
  price.textContent = Number.isFinite(item.price) ? PRICE_FORMAT.format(item.price) : "Price on request";
  price.classList.toggle("card__price--unknown", !Number.isFinite(item.price));
  const score = card.querySelector(".card__score");
  score.textContent = `score ${item.score.toFixed(2)}`;
  score.title = "How well this product fits (higher is better)";
  return card;
}

function formatGeneratedAt(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? iso : `${GENERATED_AT_FORMAT.format(when)} UTC`;
}

/** Renders a document: `fallback` when it is the popular document shown in place of the
 * customer's own (`customerNumber` null when no customer was chosen). */
function renderDocument(doc, customerNumber, fallback) {
  showState(fallback ? "fallback" : "ready", customerNumber);
  if (fallback) {
    setHeadline("Collectors' favourites", "The models rated highest by all our customers.");
    document.getElementById("fallback-reason").textContent = customerNumber === null
      ? "enter your customer number above for picks of your own"
      : `we don't know customer ${customerNumber} yet`;
    $("fallback-banner").hidden = false;
  } else {
    setHeadline(`Recommended for customer ${customerNumber}`,
      doc.source === "stream" ? "Fresh picks from your latest visit." : "Picked for you from what you bought and rated.");
  }
  document.getElementById("recommended-title").textContent = fallback ? "Top picks" : "Picked for you";

  $("recommended-list").replaceChildren(...doc.recommended.map((item) => productCard(item, "card")));
  $("similar-list").replaceChildren(...doc.similar_to_session.map((item) => productCard(item, "similar-card")));
  $("recommended-row").hidden = doc.recommended.length === 0;
  $("similar-row").hidden = doc.similar_to_session.length === 0;
  if (doc.recommended.length === 0 && doc.similar_to_session.length === 0) {
    $("state-empty").hidden = false;
    document.body.dataset.state = "empty";
  }

  const p = doc.provenance;
  $("provenance-source").textContent = SOURCE_LABELS[doc.source] ?? doc.source;
  $("provenance-model-version").textContent = p.model_version;
  $("provenance-embedding-version").textContent = p.embedding_version;
  const generatedAt = $("provenance-generated-at");
  generatedAt.textContent = formatGeneratedAt(p.generated_at);
  generatedAt.dateTime = p.generated_at;
  generatedAt.title = p.generated_at;
  $("provenance-recommendation-id").textContent = p.recommendation_id;
  $("provenance").hidden = false;
}

function renderEmpty(customerNumber) {
  showState("empty", customerNumber);
  setHeadline(customerNumber === null ? "Recommended for you" : `Recommended for customer ${customerNumber}`,
    "Nothing to show yet.");
}

function renderError(message, customerNumber) {
  showState("error", customerNumber);
  setHeadline("Recommended for you", "Something went wrong.");
  $("error-message").textContent = message;
}

// --- loading -------------------------------------------------------------------------------

let currentLoad = null;

/** Loads and shows the customer's document, else the popular one, else the empty state.
 * A newer load supersedes an older one still in flight. */
async function loadRecommendations(customerNumber) {
  currentLoad?.abort();
  const load = new AbortController();
  currentLoad = load;
  showState("loading", customerNumber);
  setHeadline(customerNumber === null ? "Recommended for you" : `Recommended for customer ${customerNumber}`,
    "Finding picks…");
  try {
    let doc = null;
    if (customerNumber !== null) doc = await fetchDocument(customerDocumentPath(customerNumber), load.signal);
    const fallback = doc === null;
    if (fallback) doc = await fetchDocument(POPULAR_PATH, load.signal);
    if (load.signal.aborted) return;
    if (doc === null) renderEmpty(customerNumber);
    else renderDocument(doc, customerNumber, fallback);
  } catch (error) {
    if (load.signal.aborted) return;
    renderError(error instanceof DocumentLoadError ? error.message : `unexpected error: ${error}`, customerNumber);
  }
}

/** The customer number in canonical form ("0103" is 103), or null when `text` is not one. */
function parseCustomerNumber(text) {
  const trimmed = text.trim();
  return CUSTOMER_NUMBER.test(trimmed) ? BigInt(trimmed).toString() : null;
}

function customerFromUrl() {
  return new URL(window.location.href).searchParams.get("customer");
}

function start() {
  const input = $("customer-input");
  const requested = customerFromUrl();

  $("customer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const customerNumber = parseCustomerNumber(input.value);
    if (customerNumber === null) {
      renderError(`"${input.value}" is not a customer number: enter a whole number such as 103.`, null);
      return;
    }
    input.value = customerNumber;
    const url = new URL(window.location.href);
    url.searchParams.set("customer", customerNumber);
    history.replaceState(null, "", url);
    loadRecommendations(customerNumber);
  });
  $("retry").addEventListener("click", () => {
    const again = customerFromUrl();
    loadRecommendations(again === null ? null : parseCustomerNumber(again));
  });

  if (requested === null || requested.trim() === "") {
    loadRecommendations(null);
    return;
  }
  const customerNumber = parseCustomerNumber(requested);
  if (customerNumber === null) {
    renderError(`"${requested}" in the address is not a customer number: enter a whole number such as 103.`, null);
    return;
  }
  input.value = customerNumber;
  loadRecommendations(customerNumber);
}

start();
