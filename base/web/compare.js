// The Compare view: reports side by side (table), accuracy against GMACs / parameters /
// images per second (Chart.js scatter, axes chosen with two selects), per-class accuracy and
// the most confused pairs. Data: the JSON of convzoo.plugins.compare.comparison().
"use strict";

(function () {
  const { el, fill, fmt, table } = window.ConvzooDom;

  const X_AXES = {
    gmacs: { label: "GMACs per image", value: (m) => m.gmacs },
    params: { label: "parameters (millions)", value: (m) => (m.params === null ? null : m.params / 1e6) },
    images_per_second: { label: "images per second", value: (m) => m.images_per_second },
  };
  const Y_AXES = {
    top1: { label: "top-1 accuracy (%)", value: (m) => m.top1 },
    top5: { label: "top-5 accuracy (%)", value: (m) => m.top5 },
    mce: { label: "mCE (% of the baseline's; lower is better)", value: (m) => m.mce ?? null },
    relative_mce: { label: "relative mCE (%; lower is better)", value: (m) => m.relative_mce ?? null },
  };
  const SEVERITIES = ["1", "2", "3", "4", "5"];
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

  function summaryTable(models) {
    const ordered = [...models].sort((a, b) => (b.top1 ?? -1) - (a.top1 ?? -1));
    return table(
      "Reports, best top-1 first",
      ["model", "arch / variant", "params (M)", "GMACs", "top-1 %", "top-5 %", "images/s", "p50 ms", "provider", "images", "report"],
      ordered.map((m) => [
        m.name,
        m.arch || "–",
        fmt(m.params === null ? null : m.params / 1e6, 2),
        fmt(m.gmacs, 3),
        fmt(m.top1, 3),
        fmt(m.top5, 3),
        fmt(m.images_per_second, 1),
        fmt(m.p50_ms, 2),
        m.provider || "–",
        fmt(m.count, 0),
        m.report || "–",
      ]),
      { id: "compare-table", className: "numbers" },
    );
  }

  function points(models, x, y) {
    return models
      .map((m, i) => ({ model: m, colour: COLOURS[i % COLOURS.length], x: X_AXES[x].value(m), y: Y_AXES[y].value(m) }))
      .filter((p) => p.x !== null && p.x !== undefined && p.y !== null && p.y !== undefined);
  }

  function radius(model, models) {
    const largest = Math.max(1, ...models.map((m) => m.params || 0));
    return 4 + 12 * Math.sqrt((model.params || 0) / largest); // area ~ parameters
  }

  function plot(models) {
    const xSelect = el("select", { id: "compare-x" }, Object.entries(X_AXES).map(([k, a]) => el("option", { value: k }, a.label)));
    const ySelect = el("select", { id: "compare-y" }, Object.entries(Y_AXES).map(([k, a]) => el("option", { value: k }, a.label)));
    const canvas = el("canvas", { id: "compare-plot", role: "img", "aria-label": "accuracy against the chosen axis, one point per model" });
    const missing = el("p", { id: "compare-not-plotted", className: "note" });
    const figure = el(
      "figure",
      { className: "plot" },
      el("div", { className: "controls" }, el("label", {}, "x axis ", xSelect), el("label", {}, "y axis ", ySelect)),
      el("div", { className: "canvas-box" }, canvas),
      missing,
      el("figcaption", {}, "One point per report; point area grows with the parameter count. The table above holds the same figures."),
    );
    if (typeof window.Chart !== "function") {
      fill(figure, el("p", { className: "error" }, "The chart library did not load; the table holds every figure."));
      return figure;
    }
    const chart = new window.Chart(canvas, {
      type: "scatter",
      data: { datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { title: { display: true }, grace: "8%" }, y: { title: { display: true }, beginAtZero: true } },
        plugins: {
          tooltip: {
            callbacks: {
              label: (item) => `${item.dataset.label}: ${fmt(item.parsed.x, 3)}, ${fmt(item.parsed.y, 2)}%`,
            },
          },
        },
      },
    });
    function update() {
      const shown = points(models, xSelect.value, ySelect.value);
      chart.data.datasets = shown.map((p) => ({
        label: p.model.name,
        data: [{ x: p.x, y: p.y }],
        backgroundColor: p.colour + "99",
        borderColor: p.colour,
        pointRadius: radius(p.model, models),
        pointHoverRadius: radius(p.model, models) + 2,
      }));
      chart.options.scales.x.title.text = X_AXES[xSelect.value].label;
      chart.options.scales.y.title.text = Y_AXES[ySelect.value].label;
      const highest = Math.max(0, ...shown.map((p) => p.y));
      const accuracy = ySelect.value === "top1" || ySelect.value === "top5"; // mCE may pass 100
      chart.options.scales.y.max = accuracy ? Math.min(100, Math.ceil(highest * 1.15 + 1)) : Math.ceil(highest * 1.15 + 1);
      chart.update();
      const left = models.filter((m) => !shown.some((p) => p.model === m)).map((m) => m.name);
      missing.textContent = left.length ? `Not plotted (no ${X_AXES[xSelect.value].label} or accuracy): ${left.join(", ")}` : "";
    }
    xSelect.addEventListener("change", update);
    ySelect.addEventListener("change", update);
    update();
    return figure;
  }

  function perClass(data) {
    const models = data.models.filter((m) => m.per_class);
    if (!models.length) return el("p", { className: "note" }, "No report holds per-class accuracy (evaluate with the per_class plugin).");
    const names = data.class_names || {};
    const worst = new Set(models.flatMap((m) => m.per_class.worst.map((w) => String(w.index))));
    const every = [...new Set(models.flatMap((m) => Object.keys(m.per_class.accuracy)))];
    const body = el("tbody");
    const search = el("input", { type: "search", id: "class-filter", placeholder: "class name or index" });
    const count = el("span", { className: "note", "aria-live": "polite" });
    function row(index) {
      return el(
        "tr",
        {},
        el("th", { scope: "row" }, `${names[index] || index} (${index})`),
        models.map((m) => {
          const value = m.per_class.accuracy[index];
          if (value === undefined) return el("td", {}, "–");
          const bar = el("span", { className: "bar" });
          bar.style.width = `${Math.max(0, Math.min(100, value))}%`;
          return el("td", {}, el("span", { className: "bar-track" }, bar), ` ${fmt(value, 1)}%`);
        }),
      );
    }
    function mean(index) {
      const values = models.map((m) => m.per_class.accuracy[index]).filter((v) => v !== undefined);
      return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
    }
    function show() {
      const query = search.value.trim().toLowerCase();
      const chosen = query
        ? every.filter((i) => i === query || String(names[i] || "").toLowerCase().includes(query))
        : [...worst];
      chosen.sort((a, b) => mean(a) - mean(b) || Number(a) - Number(b));
      fill(body, ...chosen.slice(0, 50).map(row));
      count.textContent = query
        ? ` ${chosen.length} classes match${chosen.length > 50 ? " (first 50 shown)" : ""}`
        : " every model's worst classes, lowest mean first";
    }
    search.addEventListener("input", show);
    show();
    return el(
      "div",
      {},
      el(
        "p",
        {},
        "Mean per-class accuracy: ",
        models.map((m, i) => [i ? "; " : "", `${m.name} ${fmt(m.per_class.mean_accuracy, 2)}%`]),
      ),
      el("label", {}, "Find a class ", search),
      count,
      el(
        "table",
        { id: "per-class-table", className: "numbers" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "class"), models.map((m) => el("th", { scope: "col" }, m.name)))),
        body,
      ),
    );
  }

  function confusion(models) {
    const holding = models.filter((m) => m.confusion && m.confusion.length);
    if (!holding.length) return el("p", { className: "note" }, "No report holds confused pairs (evaluate with the confusion plugin).");
    return el(
      "div",
      { className: "side-by-side", id: "confusion" },
      holding.map((m) =>
        table(
          m.name,
          ["true class", "predicted as", "images"],
          m.confusion.map((c) => [`${c.true_name} (${c.true})`, `${c.predicted_name} (${c.predicted})`, fmt(c.count, 0)]),
          { className: "numbers confusion" },
        ),
      ),
    );
  }

  function robustnessTable(rows) {
    return table(
      "One row per model: its clean, ImageNet-C, -A, -R and -Sketch reports (A and R over their 200 classes)",
      ["model", "arch / variant", "clean top-1 %", "mCE %", "relative mCE %", "ImageNet-A top-1 %", "ImageNet-R top-1 %", "Sketch top-1 %", "not in mCE"],
      rows.map((r) => [
        r.model,
        r.arch || "–",
        fmt(r.clean_top1, 3),
        fmt(r.mce, 2),
        fmt(r.relative_mce, 2),
        fmt(r.a_top1, 3),
        fmt(r.r_top1, 3),
        fmt(r.sketch_top1, 3),
        r.missing && r.missing.length ? r.missing.join(", ") : "–",
      ]),
      { id: "robustness-table", className: "numbers" },
    );
  }

  /** One model's corruption x severity top-1 errors: a table whose cells darken with the error. */
  function heatmap(r) {
    const corruptions = Object.keys(r.errors);
    return el(
      "table",
      { className: "numbers heatmap", "aria-label": `${r.model}: top-1 error (%) per corruption and severity` },
      el("caption", {}, `${r.model}: top-1 error % by corruption and severity`),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "corruption"), SEVERITIES.map((s) => el("th", { scope: "col" }, `severity ${s}`)))),
      el(
        "tbody",
        {},
        corruptions.map((c) =>
          el(
            "tr",
            {},
            el("th", { scope: "row" }, c),
            SEVERITIES.map((s) => {
              const value = r.errors[c][s];
              const cell = el("td", {}, fmt(value, 1));
              if (value !== undefined) {
                const share = Math.max(0, Math.min(100, value)) / 100;
                cell.style.backgroundColor = `rgba(214, 39, 40, ${(0.08 + 0.8 * share).toFixed(3)})`;
                if (share > 0.6) cell.style.color = "#fff";
              }
              return cell;
            }),
          ),
        ),
      ),
    );
  }

  function robustness(data) {
    const rows = data.robustness || [];
    if (!rows.length) return null;
    const maps = rows.filter((r) => r.errors && Object.keys(r.errors).length);
    return [
      el("h3", {}, "Robustness"),
      robustnessTable(rows),
      maps.length ? el("div", { className: "side-by-side", id: "heatmaps" }, maps.map(heatmap)) : null,
    ];
  }

  /** Fill ``root`` with the comparison of ``data.models``. */
  function render(root, data) {
    if (!data.models || !data.models.length) {
      fill(root, el("p", { className: "note" }, "No reports to compare."));
      return;
    }
    fill(root, 
      el("h3", {}, "Table"),
      summaryTable(data.models),
      robustness(data),
      el("h3", {}, "Accuracy against cost"),
      plot(data.models),
      el("h3", {}, "Per-class accuracy"),
      perClass(data),
      el("h3", {}, "Most confused pairs"),
      confusion(data.models),
    );
  }

  window.ConvzooCompare = { render };
})();
