// The demo's front page: cards from page.json, then health changes and load runs as the server pushes them.
"use strict";

const STATES = {
    starting: "not polled yet",
    healthy: "healthy",
    unready: "alive, not ready",
    slow: "no answer in time",
    down: "down",
};
const page = { cards: new Map(), results: new Map(), last: new Map(), socket: null, retry: 1000 };

function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
}

const number = (value, digits = 0) => value.toLocaleString("en-US", { maximumFractionDigits: digits });
const link = (label, href) => element("a", { href, target: "_blank", rel: "noopener" }, label);

function lastRunText(row) {
    if (!row) return "not in the last full run";
    const how = row.appended ? ` (run with ${row.appended})` : "";
    return `${row.label}${how}: ${number(row.requests_per_s)} req/s, p99 ${number(row.p99_ms, 1)} ms`;
}

function renderCard(card) {
    const address = card.url.replace("http://", "");
    const links = card.links.map(([label, href]) => link(label, href));
    const files = card.source.map((path) => link(path, `repo/${path}`));
    const readme = `${card.source[0].split("/")[0]}/README.md`;
    const polls = card.health.join(", then ");
    const node = element(
        "article",
        { class: "card", id: `card-${card.name}`, "data-state": "starting" },
        element(
            "header",
            {},
            element("h3", {}, card.name),
            element("span", { class: "listings" }, card.listings.length ? `listing ${card.listings.join(", ")}` : "past the book"),
        ),
        element("p", { class: "what" }, card.what),
        element("p", { class: "command" }, element("code", {}, card.command)),
        element("p", { class: "links" }, element("span", { class: "address" }, address), ...links),
        element(
            "p",
            { class: "health" },
            element("span", { class: "dot" }),
            element("span", { class: "state" }, STATES.starting),
            element("span", { class: "checks" }),
        ),
        element("p", { class: "polls" }, `polls ${polls} every second`),
        element("p", { class: "source" }, ...files, link("README", `repo/${readme}`)),
        element("p", { class: "last-run" }, `last full run: ${lastRunText(card.last_run)}`),
    );
    page.cards.set(card.name, node);
    return node;
}

function showHealth({ name, state, checks }) {
    const node = page.cards.get(name);
    if (!node) return;
    node.dataset.state = state;
    node.querySelector(".state").textContent = STATES[state] || state;
    node.querySelector(".checks").textContent = checks.join(" · ");
    const healthy = [...page.cards.values()].filter((card) => card.dataset.state === "healthy").length;
    const summary = document.getElementById("summary");
    summary.dataset.healthy = healthy;
    summary.textContent = `${healthy} of ${page.cards.size} healthy.`;
}

function renderLoadPanel(cards, load) {
    const intro = document.getElementById("load-intro");
    intro.textContent =
        `Pick one or two servers and press the button: wrk sends them the book's load, ${load.connections} ` +
        `connections on ${load.threads} thread for ${load.seconds} s, one server after the other, and each one's ` +
        "requests per second and 99th percentile latency are drawn as they arrive, beside its row of the last " +
        "full benchmark. Here the demo's other servers idle beside the one under load; in the full run each " +
        "had the machine to itself.";
    const fieldset = document.getElementById("load-servers");
    for (const card of cards) {
        const box = element("input", { type: "checkbox", name: "server", value: card.name });
        fieldset.append(element("label", {}, box, ` ${card.name} `, element("span", {}, card.load_path)));
    }
    fieldset.addEventListener("change", () => {
        const picked = fieldset.querySelectorAll("input:checked").length;
        for (const box of fieldset.querySelectorAll("input:not(:checked)")) box.disabled = picked >= 2;
        setButton();
    });
    const button = document.getElementById("load-run");
    button.textContent = `Run wrk, ${load.seconds} s each`;
    button.addEventListener("click", () => {
        const names = [...fieldset.querySelectorAll("input:checked")].map((box) => box.value);
        page.socket.send(JSON.stringify({ run: names }));
    });
    if (load.wrk_note) {
        const note = document.getElementById("load-note");
        note.hidden = false;
        note.textContent = `The panel cannot run a load: ${load.wrk_note}. Every other part of the page works.`;
        fieldset.disabled = true;
    }
}

function setButton() {
    const picked = document.querySelectorAll("#load-servers input:checked").length;
    const status = document.getElementById("load-status").dataset.state;
    const open = page.socket && page.socket.readyState === WebSocket.OPEN;
    document.getElementById("load-run").disabled = !open || picked === 0 || status === "running";
}

function setStatus(state, text) {
    const status = document.getElementById("load-status");
    status.dataset.state = state;
    status.textContent = text;
    setButton();
}

// One row per server of the run: requests per second and p99 latency, now and in the last full run.
function metric(kind, label, unit) {
    const bar = (which) => element("div", { class: "track" }, element("div", { class: `bar ${which}` }));
    return element(
        "div",
        { class: `metric ${kind}` },
        element("span", { class: "label" }, label),
        bar("now"),
        element("span", { class: "value now", "data-unit": unit }, "…"),
        bar("last"),
        element("span", { class: "value last", "data-unit": unit }, "…"),
    );
}

function startRun({ servers, seconds, connections }) {
    const results = document.getElementById("load-results");
    results.replaceChildren();
    page.results.clear();
    for (const name of servers) {
        const row = element(
            "div",
            { class: "result", "data-name": name, "data-state": "waiting" },
            element("h4", {}, name, " ", element("span", { class: "path" })),
            metric("rps", "requests per second", "req/s"),
            metric("p99", "99th percentile latency", "ms"),
            element("p", { class: "errors" }),
            element("p", { class: "legend" }, "upper bar: this run · lower bar: ", lastRunText(page.last.get(name))),
        );
        page.results.set(name, row);
        results.append(row);
        const last = page.last.get(name);
        if (last) fill(row, "last", last.requests_per_s, last.p99_ms);
    }
    const what = seconds ? `, ${seconds} s each at ${connections} connections` : "";
    setStatus("running", `wrk is running against ${servers.join(", then ")}${what}…`);
    draw();
}

function fill(row, which, rps, p99) {
    const set = (kind, value, digits) => {
        const span = row.querySelector(`.${kind} .value.${which}`);
        span.dataset.value = value;
        span.textContent = `${number(value, digits)} ${span.dataset.unit}`;
    };
    set("rps", rps, 0);
    set("p99", p99, 1);
}

// Bars share one scale per metric across the rows, so two servers compare at a glance.
function draw() {
    for (const kind of ["rps", "p99"]) {
        const spans = [...document.querySelectorAll(`#load-results .${kind} .value[data-value]`)];
        const most = Math.max(1e-9, ...spans.map((span) => Number(span.dataset.value)));
        for (const span of spans) {
            const bar = span.previousElementSibling.firstElementChild;
            bar.style.width = `${(100 * Number(span.dataset.value)) / most}%`;
            bar.dataset.share = (Number(span.dataset.value) / most).toFixed(4);
        }
    }
}

function onServer({ name, path }) {
    const row = page.results.get(name);
    if (!row) return;
    row.dataset.state = "running";
    row.querySelector(".path").textContent = `GET ${path}`;
}

function onResult(result) {
    const row = page.results.get(result.name);
    if (!row) return;
    if (result.error) {
        row.dataset.state = "error";
        row.querySelector(".errors").textContent = result.error;
        return;
    }
    fill(row, "now", result.requests_per_s, result.p99_ms);
    row.dataset.state = "done";
    const errors = [];
    if (result.socket_errors) errors.push(`${number(result.socket_errors)} socket errors`);
    if (result.non_2xx) errors.push(`${number(result.non_2xx)} answers not 2xx`);
    row.querySelector(".errors").textContent =
        `${number(result.requests)} requests` + (errors.length ? `; ${errors.join(", ")}` : ", no errors");
    draw();
}

function renderBench(run, book) {
    const where = document.getElementById("bench-run");
    if (!run) {
        where.append(element("p", {}, "No full run yet: `make bench` writes bench/results/."));
    } else {
        const plan = run.plan;
        const when = run.started.replace("T", " ").replace("+00:00", " UTC");
        where.append(
            element(
                "p",
                {},
                `Run on ${when}, on ${run.machine.cores} cores (${run.machine.cpu_model}): wrk -t${plan.threads} ` +
                    `-c${plan.connections}, ${plan.repeats} runs of ${plan.duration_s} s per cell, at ` +
                    `${plan.latencies_ms.join(" and ")} ms of added database latency. Every figure: `,
                link(run.file, `repo/${run.file}`),
                ".",
            ),
        );
        const charts = element("div", { class: "charts" });
        for (const chart of run.charts) {
            const image = element("img", { src: `repo/${chart}`, alt: `${chart}, from the run of ${when}` });
            charts.append(element("figure", {}, image, element("figcaption", {}, `${chart} (${when})`)));
        }
        where.append(charts);
    }
    const bookNode = document.getElementById("book");
    if (book) {
        bookNode.dataset.state = "present";
        bookNode.append(
            element("p", {}, `Written ${book.written.replace("T", " ")}: `, link(book.file, `repo/${book.file}`)),
            element("pre", {}, book.markdown),
        );
    } else {
        bookNode.dataset.state = "absent";
        bookNode.append(
            element(
                "p",
                {},
                "No results file of this comparison yet: bench/results/book.md is absent (`make bench-book` " +
                    "writes it). The runs made by hand so far are described in ",
                link("bench/README.md", "repo/bench/README.md"),
                ".",
            ),
        );
    }
}

function connect() {
    const socket = new WebSocket(new URL("ws", window.location.href).href.replace(/^http/, "ws"));
    page.socket = socket;
    const connection = document.getElementById("connection");
    socket.onopen = () => {
        page.retry = 1000;
        connection.hidden = true;
        connection.dataset.state = "connected";
        setButton();
    };
    socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "health") showHealth(message);
        else if (message.type === "load" && message.state === "running") startRun(message);
        else if (message.type === "load" && message.state === "idle") setStatus("idle", "Done.");
        else if (message.type === "load-server") onServer(message);
        else if (message.type === "load-result") onResult(message);
        else if (message.type === "refused") setStatus("refused", message.message);
    };
    socket.onclose = () => {
        connection.hidden = false;
        connection.dataset.state = "disconnected";
        connection.textContent = "The demo's front page server is gone (the demo stopped?); retrying…";
        for (const card of page.cards.values()) card.dataset.state = "starting";
        setButton();
        setTimeout(connect, page.retry);
        page.retry = Math.min(page.retry * 2, 10000);
    };
}

async function start() {
    const data = await (await fetch("page.json")).json();
    const cards = document.getElementById("cards");
    for (const card of data.cards) {
        cards.append(renderCard(card));
        if (card.last_run) page.last.set(card.name, card.last_run);
    }
    renderLoadPanel(data.cards, data.load);
    renderBench(data.last_run, data.book);
    connect();
}

start();
