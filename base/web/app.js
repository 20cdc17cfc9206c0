// convzoo's page: the models and their layers, one picture classified by every selected model,
// and evaluation reports side by side. It talks to the server's v2 REST API (same origin) and
// asks for the bearer token when the server answers 401.
"use strict";

(function () {
  const { el, fill, fmt, table } = window.ConvzooDom;
  const TOKEN_KEY = "convzoo-token";
  const TOP_K = 5;
  const KIND_GPU = new Set([1, "KIND_GPU"]);
  const state = { models: [], image: null, imageName: "", run: 0 };

  // ---------- talking to the server ----------

  let pendingToken = null;

  /** Ask for the bearer token once, however many requests are waiting for it; null if cancelled. */
  function askToken(reason) {
    if (pendingToken) return pendingToken;
    const dialog = document.getElementById("token-dialog");
    const input = document.getElementById("token-input");
    document.getElementById("token-reason").textContent = reason;
    input.value = "";
    pendingToken = new Promise((resolve) => {
      const done = (value) => {
        pendingToken = null;
        dialog.removeEventListener("close", onClose);
        resolve(value);
      };
      const onClose = () => done(dialog.returnValue === "ok" && input.value ? input.value : null);
      dialog.addEventListener("close", onClose);
      dialog.returnValue = "";
      dialog.showModal();
      input.focus();
    });
    return pendingToken;
  }

  async function errorText(response) {
    const text = await response.text();
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed.error === "string") return `${response.status}: ${parsed.error}`;
    } catch (ignored) {
      // not JSON: show the text as it came
    }
    return `${response.status}: ${text || response.statusText}`;
  }

  /** fetch() with the stored token; on 401 ask for one and try again. */
  async function api(method, path, options) {
    for (;;) {
      const headers = Object.assign({}, (options && options.headers) || {});
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await fetch(path, { method, headers, body: options && options.body });
      if (response.status !== 401) return response;
      const reason = await errorText(response);
      const entered = await askToken(token ? `The token was refused (${reason}).` : reason);
      if (entered === null) throw new Error(`the server needs a bearer token (${reason})`);
      sessionStorage.setItem(TOKEN_KEY, entered);
    }
  }

  async function getJson(method, path, options) {
    const response = await api(method, path, options);
    if (!response.ok) throw new Error(await errorText(response));
    return response.json();
  }

  function status(text) {
    document.getElementById("status").textContent = text;
  }

  // ---------- what a model's config says ----------

  /** A ModelConfig parameter's string, whether the map came as an object or as key/value entries. */
  function parameter(config, key) {
    const parameters = (config && config.parameters) || {};
    let value = Array.isArray(parameters) ? (parameters.find((p) => p.key === key) || {}).value : parameters[key];
    if (value && typeof value === "object") value = value.string_value ?? value.stringValue;
    return typeof value === "string" ? value : null;
  }

  function parseJson(text, what, problems) {
    if (text === null) return null;
    try {
      return JSON.parse(text);
    } catch (error) {
      problems.push(`${what} is not JSON: ${error.message}`);
      return null;
    }
  }

  function variant(activation) {
    if (activation && typeof activation === "object") {
      const options = Object.entries(activation).filter(([k]) => k !== "name").map(([k, v]) => `${k}=${v}`);
      return options.length ? `${activation.name}(${options.join(", ")})` : String(activation.name ?? "");
    }
    return activation ?? null;
  }

  function device(config) {
    const group = ((config && config.instance_group) || [])[0];
    if (!group) return null;
    return KIND_GPU.has(group.kind) ? `cuda:${(group.gpus || [0])[0] ?? 0}` : "cpu";
  }

  function describe(entry, config) {
    const problems = [];
    const card = parseJson(parameter(config, "card"), "the card", problems) || {};
    const preprocessing = parseJson(parameter(config, "preprocessing"), "the preprocessing", problems);
    const input = ((config && config.input) || [])[0];
    const output = ((config && config.output) || [])[0];
    const dims = input && input.dims ? input.dims.map(Number) : [];
    return {
      name: entry.name,
      version: entry.version || "",
      state: entry.state || "",
      reason: entry.reason || "",
      config,
      card,
      preprocessing,
      problems,
      inputName: input ? input.name : null,
      // what the server also accepts encoded images for: batched FP32 [3, H, W]
      takesImages: Boolean(input && input.data_type === "TYPE_FP32" && dims.length === 3 && dims[0] === 3 && Number(config.max_batch_size) > 0),
      outputName: output ? output.name : null,
      arch: card.arch ?? null,
      activation: variant(card.activation),
      precision: card.precision ?? parameter(config, "precision"),
      params: typeof card.params === "number" ? card.params : null,
      gmacs: typeof card.macs === "number" ? card.macs / 1e9 : null,
      inputSize: card.input_size ? `${card.input_size}×${card.input_size}` : dims.length ? dims.join("×") : null,
      device: device(config),
    };
  }

  async function loadModels() {
    const index = await getJson("POST", "/v2/repository/index", {
      body: "{}",
      headers: { "Content-Type": "application/json" },
    });
    // One row per model: its READY version when there is one, else its latest state.
    const byName = new Map();
    for (const entry of index) {
      const seen = byName.get(entry.name);
      if (!seen || (entry.state === "READY" && seen.state !== "READY")) byName.set(entry.name, entry);
    }
    const entries = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    return Promise.all(
      entries.map(async (entry) => {
        if (entry.state !== "READY") return describe(entry, null);
        try {
          return describe(entry, await getJson("GET", `/v2/models/${encodeURIComponent(entry.name)}/config`));
        } catch (error) {
          const model = describe(entry, null);
          model.problems.push(`config: ${error.message}`);
          return model;
        }
      }),
    );
  }

  // ---------- Models view ----------

  function stateCell(model) {
    return el(
      "span",
      { className: `state-${model.state}` },
      model.state || "–",
      model.reason ? el("span", { className: "note reason" }, ` (${model.reason})`) : null,
    );
  }

  function renderModels() {
    const rows = state.models.map((m) =>
      el(
        "tr",
        { "data-model": m.name },
        el("th", { scope: "row" }, el("button", { className: "link", type: "button", onclick: () => showModel(m) }, m.name)),
        el("td", {}, String(m.version)),
        el("td", {}, stateCell(m)),
        el("td", {}, m.arch || "–"),
        el("td", {}, m.activation || "–"),
        el("td", {}, m.precision || "–"),
        el("td", {}, fmt(m.params, 0)),
        el("td", {}, fmt(m.gmacs, 3)),
        el("td", {}, m.inputSize || "–"),
        el("td", {}, m.device || "–"),
      ),
    );
    document
      .getElementById("models-table")
      .replaceChildren(
        state.models.length
          ? table(null, ["model", "version", "state", "arch", "activation", "precision", "parameters", "GMACs", "input", "device"], rows, {
              id: "model-table",
              className: "numbers",
            })
          : el("p", { className: "note" }, "The repository holds no models."),
      );
  }

  function facts(pairs) {
    return el(
      "dl",
      { className: "facts" },
      pairs
        .filter(([, v]) => v !== null && v !== undefined && v !== "")
        .map(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]),
    );
  }

  /** The course formulas for one convolution row, recomputed from its window. */
  function formulas(row) {
    const { input_shape: [cIn, , width], kernel: f, stride: s, padding: p, bias } = row.conv;
    const cOut = row.output_shape[0];
    const out = Math.floor((width - f + 2 * p) / s) + 1;
    const params = bias ? (f * f * cIn + 1) * cOut : f * f * cIn * cOut;
    const macs = f * f * cIn * cOut * row.output_shape[1] * row.output_shape[2];
    const check = (mine, theirs) => (mine === theirs ? " ✓ as in the row" : ` ✗ the row says ${fmt(theirs, 0)}`);
    return el(
      "div",
      { className: "formula", id: "formula" },
      el("p", {}, el("strong", {}, row.name), ` — ${row.kind}, input ${row.conv.input_shape.join("×")}, F=${f}, S=${s}, P=${p}, C_in=${cIn}, C_out=${cOut}`),
      el(
        "p",
        { id: "formula-output" },
        `output size = (W − F + 2P) / S + 1 = ⌊(${width} − ${f} + 2·${p}) / ${s}⌋ + 1 = ${out}`,
        check(out, row.output_shape[2]),
      ),
      el(
        "p",
        { id: "formula-params" },
        bias
          ? `parameters = (F·F·C_in + 1)·C_out = (${f}·${f}·${cIn} + 1)·${cOut} = ${fmt(params, 0)}`
          : `parameters = F·F·C_in·C_out (no bias) = ${f}·${f}·${cIn}·${cOut} = ${fmt(params, 0)}`,
        check(params, row.params),
      ),
      el(
        "p",
        { id: "formula-macs" },
        `MACs = F·F·C_in·C_out·H_out·W_out = ${f}·${f}·${cIn}·${cOut}·${row.output_shape[1]}·${row.output_shape[2]} = ${fmt(macs, 0)}`,
        check(macs, row.macs),
      ),
    );
  }

  function layerTable(card) {
    const layers = Array.isArray(card.layers) ? card.layers : [];
    if (!layers.length) return el("p", { className: "note" }, "This card has no per-layer table (export the model with this convzoo to add one).");
    const box = el("div");
    const rows = layers.map((row) => {
      const tr = el(
        "tr",
        { "data-layer": row.name },
        el("td", {}, row.name),
        el("td", {}, row.kind),
        el("td", {}, Array.isArray(row.output_shape) ? row.output_shape.join("×") : String(row.output_shape)),
        el("td", {}, fmt(row.params, 0)),
        el("td", {}, fmt(row.macs, 0)),
        el("td", {}, row.conv ? el("button", { type: "button", className: "link", onclick: () => select(row, tr) }, "formulas") : ""),
      );
      return tr;
    });
    function select(row, tr) {
      for (const r of rows) r.classList.toggle("selected", r === tr);
      fill(box, formulas(row));
    }
    const first = layers.findIndex((r) => r.conv);
    if (first >= 0) select(layers[first], rows[first]);
    return el(
      "div",
      {},
      box,
      el("div", { className: "scroll" }, table(null, ["layer", "kind", "output shape", "parameters", "MACs", ""], rows, { id: "layer-table", className: "numbers" })),
      el("p", {}, `Totals: ${fmt(card.params, 0)} parameters, ${fmt(card.macs, 0)} MACs.`),
    );
  }

  function showModel(model) {
    const card = model.card;
    const weights = card.weights || {};
    for (const tr of document.querySelectorAll("#model-table tbody tr")) tr.classList.toggle("selected", tr.dataset.model === model.name);
    const detail = document.getElementById("model-detail");
    fill(detail, 
      el("h2", { tabindex: "-1", id: "model-title" }, model.name),
      model.state !== "READY" ? el("p", { className: "error" }, `${model.state}: ${model.reason || "not ready"}`) : null,
      model.problems.length ? el("p", { className: "error" }, model.problems.join("; ")) : null,
      Object.keys(card).length
        ? [
            el("h3", {}, "Card"),
            facts([
              ["arch", card.arch],
              ["activation", model.activation],
              ["classes", card.num_classes],
              ["input size", card.input_size],
              ["precision", model.precision],
              ["opset", card.opset],
              ["parameters", fmt(card.params, 0)],
              ["MACs", fmt(card.macs, 0)],
              ["preprocessing", model.preprocessing],
            ]),
            el("h3", {}, "Weights provenance"),
            Object.keys(weights).length || card.versions
              ? facts(Object.entries(weights).map(([k, v]) => [k, v === null ? "none" : v]).concat([["toolchain", card.versions]]))
              : el("p", { className: "note" }, "The card names no weights."),
            el("h3", {}, "Parity (PyTorch against ONNX Runtime)"),
            card.parity ? facts(Object.entries(card.parity)) : el("p", { className: "note" }, "The card holds no parity figures."),
            card.precision_report ? [el("h3", {}, "Precision report"), facts(Object.entries(card.precision_report))] : null,
            el("h3", {}, "Layers"),
            layerTable(card),
          ]
        : el("p", { className: "note" }, "This model carries no convzoo card."),
    );
    document.getElementById("model-title").focus();
  }

  // ---------- Try it view ----------

  function renderTryModels() {
    const box = document.getElementById("try-models");
    fill(box, 
      el("legend", {}, "Models"),
      state.models.map((m) => {
        // Models that are not ready stay selectable: the server's answer says why they cannot classify.
        const noImages = m.state === "READY" && !m.takesImages;
        return el(
          "label",
          { className: "choice" },
          el("input", { type: "checkbox", value: m.name, checked: m.state === "READY" && m.takesImages, disabled: noImages }),
          ` ${m.name}`,
          m.state !== "READY" ? el("span", { className: "state-UNAVAILABLE" }, ` (${m.state})`) : null,
          noImages ? el("span", { className: "note" }, " (no image input)") : null,
          " ",
        );
      }),
    );
  }

  function isImage(bytes) {
    const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
    const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => bytes[i] === b);
    return jpeg || png;
  }

  async function chooseFile(file) {
    const error = document.getElementById("try-error");
    const preview = document.getElementById("preview");
    error.textContent = "";
    fill(document.getElementById("results"));
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (!isImage(bytes)) {
      state.image = null;
      preview.hidden = true;
      error.textContent = `${file.name} is not an image: only JPEG and PNG files can be classified.`;
      return;
    }
    state.image = bytes;
    state.imageName = file.name;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(new Blob([bytes], { type: file.type || "image/*" }));
    preview.hidden = false;
    await classifyAll();
  }

  /** One encoded image through POST /v2/models/{m}/infer with Triton's binary tensor extension. */
  async function classify(model, bytes) {
    const header = new TextEncoder().encode(
      JSON.stringify({
        inputs: [{ name: model.inputName || "input", shape: [1], datatype: "BYTES", parameters: { binary_data_size: bytes.length + 4 } }],
        outputs: [{ name: model.outputName || "logits", parameters: { classification: TOP_K } }],
      }),
    );
    const body = new Uint8Array(header.length + 4 + bytes.length);
    body.set(header, 0);
    new DataView(body.buffer).setUint32(header.length, bytes.length, true); // BYTES elements carry a 4-byte length
    body.set(bytes, header.length + 4);
    const started = performance.now();
    const response = await api("POST", `/v2/models/${encodeURIComponent(model.name)}/infer`, {
      body,
      headers: { "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": String(header.length) },
    });
    const buffer = new Uint8Array(await response.arrayBuffer());
    const elapsed = performance.now() - started;
    const jsonLength = Number(response.headers.get("Inference-Header-Content-Length") || buffer.length);
    const text = new TextDecoder().decode(buffer.subarray(0, jsonLength));
    let reply;
    try {
      reply = JSON.parse(text);
    } catch (error) {
      throw new Error(`${response.status}: ${text}`);
    }
    if (!response.ok) throw new Error(`${response.status}: ${reply.error || text}`);
    const data = (reply.outputs || [])[0]?.data || [];
    return {
      elapsed,
      classes: data.map((item) => {
        const [score, index, ...label] = String(item).split(":");
        return { score: Number(score), index: Number(index), label: label.join(":") };
      }),
    };
  }

  function resultCard(model, result) {
    const scores = result.classes.map((c) => c.score);
    const high = Math.max(...scores);
    const low = Math.min(...scores);
    return el(
      "div",
      { className: "card result", "data-model": model.name },
      el("h3", {}, model.name),
      el("p", { className: "note latency" }, `${fmt(result.elapsed, 1)} ms round trip`),
      el(
        "ol",
        { className: "top5" },
        result.classes.map((c) => {
          const bar = el("span", { className: "bar" });
          bar.style.width = `${high === low ? 100 : 15 + (85 * (c.score - low)) / (high - low)}%`;
          return el(
            "li",
            { "data-index": c.index },
            el("span", { className: "label" }, c.label || `class ${c.index}`),
            " ",
            el("span", { className: "bar-track" }, bar),
            " ",
            el("span", { className: "score" }, c.score.toFixed(6)),
            el("span", { className: "note" }, ` #${c.index}`),
          );
        }),
      ),
    );
  }

  async function classifyAll() {
    const error = document.getElementById("try-error");
    const results = document.getElementById("results");
    if (!state.image) {
      error.textContent = "Choose a JPEG or PNG first.";
      return;
    }
    const chosen = [...document.querySelectorAll("#try-models input:checked")].map((i) => state.models.find((m) => m.name === i.value));
    if (!chosen.length) {
      error.textContent = "Select at least one model.";
      return;
    }
    const run = ++state.run; // a newer picture or click supersedes this one
    const cards = chosen.map((m) => el("div", { className: "card result", "data-model": m.name }, el("h3", {}, m.name), el("p", { className: "note" }, "classifying…")));
    fill(results, ...cards);
    await Promise.all(
      chosen.map(async (model, i) => {
        let card;
        try {
          card = resultCard(model, await classify(model, state.image));
        } catch (failure) {
          card = el("div", { className: "card result", "data-model": model.name }, el("h3", {}, model.name), el("p", { className: "error" }, failure.message));
        }
        if (run !== state.run) return;
        cards[i].replaceWith(card);
        cards[i] = card;
      }),
    );
    if (run === state.run) results.dataset.done = state.imageName;
  }

  function wireTry() {
    const input = document.getElementById("image-input");
    const drop = document.getElementById("drop");
    input.addEventListener("change", () => input.files[0] && chooseFile(input.files[0]));
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      const file = event.dataTransfer.files[0];
      if (file) chooseFile(file);
    });
    document.getElementById("classify").addEventListener("click", classifyAll);
  }

  // ---------- Compare view ----------

  async function loadReports() {
    const list = document.getElementById("report-list");
    const listing = await getJson("GET", "/reports");
    if (!listing.reports.length) {
      fill(list, 
        el("legend", {}, "Reports"),
        el("p", { className: "note" }, listing.folder ? `No reports in ${listing.folder}.` : "Start the server with --reports DIR to compare evaluation reports here."),
      );
      document.getElementById("compare-button").disabled = true;
      return;
    }
    fill(list, 
      el("legend", {}, "Reports"),
      listing.reports.map((r) =>
        el(
          "label",
          { className: "choice" },
          el("input", { type: "checkbox", value: r.name, checked: !r.error, disabled: Boolean(r.error) }),
          ` ${r.name}`,
          r.error ? el("span", { className: "error" }, ` (${r.error})`) : el("span", { className: "note" }, ` ${r.model ?? ""}`),
          " ",
        ),
      ),
    );
    await compareChosen();
  }

  async function compareChosen() {
    const error = document.getElementById("compare-error");
    error.textContent = "";
    const names = [...document.querySelectorAll("#report-list input:checked")].map((i) => i.value);
    if (!names.length) {
      error.textContent = "Choose at least one report.";
      return;
    }
    const query = names.map((n) => `name=${encodeURIComponent(n)}`).join("&");
    try {
      window.ConvzooCompare.render(document.getElementById("comparison"), await getJson("GET", `/reports/compare?${query}`));
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  // ---------- tabs ----------

  const TABS = ["models", "try", "compare"];

  function showTab(name, focus) {
    for (const tab of TABS) {
      const button = document.getElementById(`tab-${tab}`);
      const selected = tab === name;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      document.getElementById(tab).hidden = !selected;
      if (selected && focus) button.focus();
    }
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  }

  function wireTabs() {
    TABS.forEach((tab, i) => {
      const button = document.getElementById(`tab-${tab}`);
      button.addEventListener("click", () => showTab(tab, false));
      button.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (step) showTab(TABS[(i + step + TABS.length) % TABS.length], true);
      });
    });
    const initial = location.hash.slice(1);
    showTab(TABS.includes(initial) ? initial : "models", false);
  }

  // ---------- start ----------

  async function start() {
    wireTabs();
    wireTry();
    document.getElementById("compare-button").addEventListener("click", compareChosen);
    document.getElementById("token-cancel").addEventListener("click", () => document.getElementById("token-dialog").close(""));
    document.getElementById("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      document.getElementById("token-dialog").close("ok");
    });
    try {
      status("Loading the repository…");
      state.models = await loadModels();
      renderModels();
      renderTryModels();
      status(`${state.models.length} models`);
    } catch (failure) {
      status("");
      fill(document.getElementById("models-table"), el("p", { className: "error" }, `Cannot list the models: ${failure.message}`));
    }
    try {
      await loadReports();
    } catch (failure) {
      document.getElementById("compare-error").textContent = `Cannot list the reports: ${failure.message}`;
    }
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
