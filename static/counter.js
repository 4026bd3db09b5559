// The counter page's script (listing 9.10): show the live count pushed by the /counter WebSocket.
"use strict";

// The book hard-codes ws://localhost:8000/counter; deriving it from location makes the page work on
// any host and port, and behind TLS (https pages must use wss).
const COUNTER_URL = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/counter`;
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 10000;

function connect(retryMs) {
    const counter = document.querySelector("#counter");
    const status = document.querySelector("#status");
    const where = document.querySelector("#where");
    const socket = new WebSocket(COUNTER_URL);

    socket.onopen = () => {
        retryMs = FIRST_RETRY_MS; // a connection that worked resets the backoff
        status.dataset.state = "connected";
        status.textContent = "connected";
    };
    socket.onmessage = (event) => {
        if (event.data.startsWith("{")) {
            // The server's first message says where this socket landed; every other one is the count.
            const landed = JSON.parse(event.data);
            where.dataset.host = landed.host;
            where.dataset.worker = landed.worker;
            where.textContent = `served by host ${landed.host}, worker ${landed.worker}`;
        } else {
            counter.textContent = event.data;
        }
    };
    // onclose follows every failure (onerror included), so retrying here covers them all.
    socket.onclose = () => {
        counter.textContent = "–";
        where.textContent = "";
        status.dataset.state = "disconnected";
        const delay = retryMs / 2 + Math.random() * (retryMs / 2); // jitter: tabs do not retry in step
        status.textContent = `disconnected, retrying in ${(delay / 1000).toFixed(1)} s`;
        setTimeout(() => connect(Math.min(retryMs * 2, LAST_RETRY_MS)), delay);
    };
}

document.addEventListener("DOMContentLoaded", () => connect(FIRST_RETRY_MS));
