"use strict";
// ponder's trace viewer: draws one search from the JSON block in this page (a finished search),
// or follows a running one through its event stream (relative URL: works behind a path prefix).
// Every text from the model goes through textContent, never innerHTML.
(function () {
  performance.mark("ponder-script");
  const SVG = "http://www.w3.org/2000/svg";
  const page = JSON.parse(document.getElementById("ponder-page").textContent);

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid !== null && kid !== undefined && kid !== false) node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }
  const fmt = (x, digits) => (x === null || x === undefined ? "–" : typeof x === "number" ? +x.toFixed(digits ?? 3) : x);
  const clip = (text, n) => (text.length > n ? text.slice(0, n) + "…" : text);
  function section(id, title, ...kids) {
    const s = document.getElementById(id);
    s.replaceChildren(el("h2", {}, title), ...kids);
    s.hidden = false;
    return s;
  }

  // ---- budget, spending, answer ----
  function fact(label, value, share) {
    const meter = share === undefined ? null :
      el("div", { class: "meter" }, el("span", { style: `width:${Math.min(100, Math.round(share * 100))}%` }));
    return el("div", {}, el("dt", {}, label), el("dd", {}, value), meter);
  }
  function renderSummary(trace) {
    const u = trace.usage || {}, b = trace.budget || {};
    const of = (used, limit) => (limit ? `${used} / ${limit}` : `${used}`);
    const cached = u.prompt_tokens ? u.cached_tokens / u.prompt_tokens : 0;
    const facts = el("dl", { class: "facts" },
      fact("strategy", trace.strategy),
      fact("stopped", trace.stop_reason || "running"),
      fact("tokens generated", of(u.completion_tokens ?? 0, b.tokens), b.tokens ? (u.completion_tokens || 0) / b.tokens : undefined),
      fact("backend calls", of(u.calls ?? 0, b.calls) + (u.failed_calls ? ` (${u.failed_calls} failed)` : ""),
           b.calls ? (u.calls || 0) / b.calls : undefined),
      fact("seconds", b.deadline_s ? `${fmt(trace.elapsed_s, 2)} / ${fmt(b.deadline_s, 1)}` : `${fmt(trace.elapsed_s, 2)}`,
           b.deadline_s ? trace.elapsed_s / b.deadline_s : undefined),
      fact("prompt tokens cached", `${Math.round(cached * 100)}% of ${u.prompt_tokens ?? 0}`, cached),
      fact("rounds", trace.rounds ?? "–"));
    section("summary", "Budget and spending", facts);
    document.getElementById("trace-id").textContent = trace.id || "";
  }
  function renderAnswer(trace) {
    const question = (trace.messages || []).filter((m) => m.role === "user").map((m) => m.content).pop();
    const kids = [
      el("p", {}, "Chosen answer: ", el("span", { id: "chosen-answer" }, trace.answer ?? "(none)"),
        el("span", { class: "num" }, `  confidence ${fmt(trace.confidence, 2)}`)),
    ];
    if (question) kids.unshift(el("details", {}, el("summary", {}, "question"), el("pre", {}, String(question))));
    if (trace.candidates && trace.candidates.length) {
      kids.push(el("p", { class: "num" }, "candidates: " +
        trace.candidates.map((c) => `${c.answer} (${fmt(c.votes, 3)}${c.score !== null && c.score !== undefined ? `, score ${fmt(c.score)}` : ""})`).join(", ")));
    }
    if (trace.content) kids.push(el("details", {}, el("summary", {}, "shown text"), el("pre", {}, trace.content)));
    for (const e of trace.errors || []) kids.push(el("p", { class: "num" }, `failed call: ${e}`));
    section("answer", "Answer", ...kids);
  }

  // ---- the tree ----
  function chosenPath(nodes, shown) {
    const path = new Set();
    let id = shown && typeof shown.chosen === "number" ? shown.chosen : null;
    while (id !== null && id !== undefined && nodes.has(id)) { path.add(id); id = nodes.get(id).parent; }
    return path;
  }
  function statusOf(node, kids, chosen, over) {
    if (chosen.has(node.id)) return "chosen";
    if (node.terminal) return "finished";
    if (kids.get(node.id).length) return "expanded";
    return over ? "pruned" : "open";  // a leaf the search never expanded (nor finished) once it was over
  }
  function renderTree(records, shown, over) {
    const nodes = new Map([[0, { id: 0, parent: null, depth: 0, text: "", root: true }]]);
    for (const r of records) nodes.set(r.id, r);
    const kids = new Map([...nodes.keys()].map((id) => [id, []]));
    for (const r of records) if (kids.has(r.parent)) kids.get(r.parent).push(r.id);
    const chosen = chosenPath(nodes, shown);
    // Layout: leaves left to right in depth-first order, each parent over the middle of its children.
    const dx = 26, dy = 54, pad = 16, pos = new Map();
    let nextLeaf = 0, deepest = 0;
    (function place(id) {
      const n = nodes.get(id);
      deepest = Math.max(deepest, n.depth);
      const children = kids.get(id);
      children.forEach(place);
      const x = children.length ? (pos.get(children[0]).x + pos.get(children[children.length - 1]).x) / 2 : pad + dx * nextLeaf++;
      pos.set(id, { x, y: pad + dy * n.depth });
    })(0);
    const width = pad * 2 + dx * Math.max(1, nextLeaf - 1), height = pad * 2 + dy * deepest;
    const drawing = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                                 "aria-label": `search tree of ${records.length} nodes` });
    for (const r of records) {
      const a = pos.get(r.parent), p = pos.get(r.id);
      if (!a) continue;
      const onPath = chosen.has(r.id) && (r.parent === 0 || chosen.has(r.parent));
      drawing.append(svg("path", { class: onPath ? "edge chosen" : "edge",
                                   d: `M${a.x},${a.y} C${a.x},${(a.y + p.y) / 2} ${p.x},${(a.y + p.y) / 2} ${p.x},${p.y}` }));
    }
    const outline = new Map();
    for (const [id, n] of nodes) {
      const p = pos.get(id), status = n.root ? "root" : statusOf(n, kids, chosen, over);
      const g = svg("g", n.root ? { class: "root" } : { class: `node-mark ${status}`, "data-node": id, "data-status": status });
      const circle = svg("circle", { cx: p.x, cy: p.y, r: n.root ? 6 : 9 });
      const title = svg("title", {});
      title.textContent = n.root ? "the question" : `#${id} ${status} score ${fmt(n.prm_score)}: ${clip(n.text || "", 200)}`;
      circle.append(title);
      g.append(circle);
      if (!n.root) {
        const label = svg("text", { x: p.x, y: p.y + 3, "text-anchor": "middle" });
        label.textContent = String(id);
        g.append(label);
        g.addEventListener("click", () => select(id));
      }
      drawing.append(g);
    }
    // The same nodes as a nested list: step text, score, visits, prior, status, verdict.
    function item(id) {
      const n = nodes.get(id), status = statusOf(n, kids, chosen, over);
      const row = el("div", { class: "row" },
        el("b", {}, `#${id}`),
        el("span", { class: `tag ${status}` }, status),
        n.terminal && status === "chosen" ? el("span", { class: "tag finished" }, "finished") : null,
        el("span", { class: "num" }, `score ${fmt(n.prm_score)}`),
        el("span", { class: "num" }, `visits ${n.visits ?? 0}`),
        el("span", { class: "num" }, `value ${fmt(n.value)}`),
        el("span", { class: "num" }, `prior ${fmt(n.prior)}`),
        n.tokens ? el("span", { class: "num" }, `${n.tokens} tokens`) : null,
        n.answer !== null && n.answer !== undefined ? el("span", {}, "answer ", el("code", {}, n.answer)) : null);
      const text = (n.text || "").trim();
      const step = text.length > 240 ? el("details", { class: "step" }, el("summary", {}, clip(text, 240)), el("pre", {}, text))
                                      : el("pre", { class: "step" }, text || "(empty step)");
      const li = el("li", { class: "node", "data-node-id": id, "data-status": status }, row, step,
                    n.verdict ? el("p", { class: "num" }, `verdict: ${n.verdict}`) : null);
      outline.set(id, li);
      const children = kids.get(id);
      if (children.length) li.append(el("ol", { class: "nodes" }, children.map(item)));
      return li;
    }
    const list = el("ol", { class: "nodes" }, kids.get(0).map(item));
    function select(id) {
      for (const g of drawing.querySelectorAll("g.selected")) g.classList.remove("selected");
      for (const li of list.querySelectorAll("li.selected")) li.classList.remove("selected");
      drawing.querySelector(`g[data-node="${id}"]`)?.classList.add("selected");
      const li = outline.get(id);
      li.classList.add("selected");
      li.scrollIntoView({ block: "nearest" });
    }
    const counts = {};
    for (const li of outline.values()) counts[li.dataset.status] = (counts[li.dataset.status] || 0) + 1;
    const legend = el("div", { class: "legend" },
      ["chosen", "finished", "expanded", "pruned", "open"].filter((s) => counts[s]).map((s) =>
        el("span", {}, el("i", { style: `background:var(--${s === "expanded" ? "open" : s})` }), `${s} ${counts[s]}`)));
    section("tree", `Tree: ${records.length} nodes`, legend, el("div", { class: "drawing" }, drawing), list);
  }

  // ---- the vote ----
  function renderVote(vote) {
    const ballots = vote.ballots;
    const agreeing = new Set(vote.agreeing || []);
    const rows = ballots.map(({ answer, source: kind, weight, text }, i) => el("tr", { class: agreeing.has(i) ? "agrees" : null, "data-sample": i },
      el("td", {}, `${i + 1}`),
      el("td", {}, kind),
      el("td", {}, answer === null ? el("span", { class: "num" }, "(no answer)") : el("code", {}, answer)),
      el("td", {}, fmt(weight)),
      el("td", {}, agreeing.has(i) ? el("span", { class: "tag chosen" }, "agrees") : ""),
      el("td", {}, text === undefined ? "" : el("details", {},
        el("summary", {}, kind === "program" ? `program, printed ${answer ?? "nothing"}` : clip(text.trim(), 80)),
        el("pre", {}, text)))));
    const table = el("table", {}, el("thead", {}, el("tr", {}, ["#", "kind", "answer", "weight", "", "text"].map((h) => el("th", {}, h)))),
                     el("tbody", {}, rows));
    const notes = [];
    if (vote.with_programs) notes.push(`${vote.programs} program(s) ran in the sandbox; ${vote.programs_agreeing} agree with the chosen answer`);
    if (vote.judged) notes.push("the judge scored the close vote: " + Object.entries(vote.judged).map(([a, p]) => `${a}: ${p}`).join(", "));
    if (vote.confidence_dropped) notes.push(`${vote.confidence_dropped} low-confidence chain(s) dropped`);
    section("vote", `Vote: ${ballots.length} samples, ${agreeing.size} agree`, table, notes.map((n) => el("p", { class: "num" }, n)));
  }

  // ---- verifier verdicts and revision attempts ----
  function renderChecks(trace) {
    const revisions = trace.revisions, verified = trace.verified, kids = [];
    if (revisions) {
      kids.push(el("ol", {}, revisions.attempts.map((a, i) => el("li", { "data-attempt": i },
        el("span", { class: `tag ${a.passed ? "pass" : "fail"}` }, a.passed ? "passed" : "not passed"), " answer ",
        el("code", {}, a.answer ?? "(none)"), a.feedback ? el("pre", {}, a.feedback) : null))));
    }
    const verdict = (revisions || verified || {}).verdict;
    if (verdict) kids.push(el("p", {}, `verdict on the chosen one: `, el("code", {}, verdict)));
    if (verified) kids.push(el("p", { class: "num" }, `${verified.passed} of ${verified.samples} passed the verifier`));
    const judged = (trace.tree || []).filter((n) => n.verdict);
    if (judged.length) kids.push(el("ul", {}, judged.map((n) => el("li", {}, `#${n.id}: `, el("code", {}, n.verdict)))));
    if (kids.length) section("checks", revisions ? `Revisions: ${revisions.attempts.length} attempts` : "Verifier", ...kids);
  }

  // ---- open-ended selection: the instruction checks ----
  function renderSelection(sel) {
    const failed = new Set(sel.failed || []), kids = [el("p", {}, `selected by ${sel.method} among ${sel.replies} replies`)];
    if ((sel.checks || []).length) {
      kids.push(el("ul", { class: "checks" }, sel.checks.map((c) => el("li", {},
        el("span", { class: `tag ${failed.has(c) ? "fail" : "pass"}` }, failed.has(c) ? "not met" : "met"), " ", c))));
    }
    if (sel.broken) kids.push(el("p", { class: "num" }, `${sel.broken} looping repl${sel.broken === 1 ? "y" : "ies"} set aside`));
    if (sel.revised) kids.push(el("p", {}, "the chosen reply is an edit that met more instructions than its draft"));
    if (sel.rejected_revisions) kids.push(el("p", { class: "num" }, `${sel.rejected_revisions} edit(s) met no more and were not taken`));
    if ((sel.texts || []).length) {
      kids.push(el("ol", { class: "replies", start: "0" }, sel.texts.map((t, i) => el("li", {},
        i === sel.chosen ? el("span", { class: "tag pass" }, "chosen") : null, el("pre", {}, t)))));
    }
    section("selection", `Selection: ${sel.met} of ${(sel.checks || []).length} instructions met`, ...kids);
  }

  // ---- code search: the client's tests, the model's tests, behaviour groups ----
  function renderCode(code) {
    const facts = [
      ["candidates", `${code.candidates} (${code.revisions} revised given what failed)`],
      ["passed the client's tests", `${code.client_passed} of ${code.candidates}`],
      ["tests the model wrote", `${code.tests} kept, ${code.untrusted} dropped (they contradict the client's examples)`],
      ["the chosen one", `passed ${code.generated_passed} of ${code.tests} of the model's tests; ${code.group} candidate(s) behave alike with it (${code.groups} group(s)); revision depth ${code.depth}`],
    ];
    const rows = facts.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)));
    const kids = [el("table", {}, el("tbody", {}, rows))];
    if (code.verdict) kids.push(el("p", {}, "the client's tests on the chosen one: ", el("code", {}, code.verdict)));
    section("code", `Code search: ${code.candidates} candidates`, ...kids);
  }

  function roundLine(e) {
    if (e.type === "round.start") return `round ${e.round}: ` + e.calls.map((c) => `${c.tag || c.kind} (n=${c.n})`).join(", ");
    if (e.type === "round.end") {
      const lead = e.best_answer !== null && e.best_answer !== undefined ? `best so far ${e.best_answer} (confidence ${fmt(e.confidence, 2)})` : "no answer yet";
      return `round ${e.round} done: ${lead}; ${e.tokens_used}/${e.tokens_budget ?? "∞"} tokens` + (e.errors && e.errors.length ? `; ${e.errors.length} failed` : "");
    }
    return null;
  }
  function renderRounds(events) {
    const lines = events.map(roundLine).filter(Boolean);
    section("rounds", `Rounds (${events.filter((e) => e.type === "round.end").length})`,
            el("details", { open: lines.length <= 12 }, el("summary", {}, `${lines.length} events`),
               el("ol", { class: "rounds" }, lines.map((l) => el("li", {}, l)))));
  }

  function render(trace, over) {
    renderSummary(trace);
    renderAnswer(trace);
    if (Array.isArray(trace.tree) && trace.tree.length) renderTree(trace.tree, trace.path, over);
    if (trace.vote && trace.vote.ballots.length) renderVote(trace.vote);
    if (trace.selection) renderSelection(trace.selection);
    if (trace.code) renderCode(trace.code);
    renderChecks(trace);
    renderRounds(trace.events || []);
    document.body.dataset.rendered = over ? "finished" : "live";
    performance.mark("ponder-rendered");  // bench/viewer_render.py reads it
  }

  // ---- live: follow a running search ----
  function follow(live) {
    const status = document.getElementById("live-status");
    status.hidden = false;
    status.textContent = "live: waiting for the search's first round…";
    const events = [], nodes = new Map();
    const partial = { id: live.id, strategy: live.strategy || "", messages: [], usage: {}, budget: {}, events, tree: [] };
    const stream = new EventSource(live.events);
    stream.onmessage = (message) => {
      if (message.data === "[DONE]") return;
      const e = JSON.parse(message.data);
      events.push(e);
      if (e.type === "round.end") {
        for (const x of e.expanded || []) {
          nodes.set(x.node, { id: x.node, parent: x.parent, depth: (nodes.get(x.parent)?.depth ?? 0) + 1, text: x.text || "",
                              prm_score: x.score, terminal: x.terminal, answer: x.answer });
        }
        partial.tree = [...nodes.values()];
        partial.answer = e.best_answer;
        partial.confidence = e.confidence;
        partial.usage = { completion_tokens: e.tokens_used, calls: e.calls_used };
        partial.budget = { tokens: e.tokens_budget };
        partial.rounds = e.round;
        status.textContent = `live: round ${e.round}, ${nodes.size} nodes so far`;
      }
      render(partial, false);
    };
    stream.addEventListener("trace", (message) => {
      stream.close();
      const trace = JSON.parse(message.data);
      render(trace, true);
      status.className = "ended";
      status.textContent = "finished: this is the whole search";
    });
    stream.addEventListener("failed", (message) => {
      stream.close();
      status.className = "failed";
      status.textContent = `the search ended without a trace: ${JSON.parse(message.data).message}`;
    });
    stream.onerror = () => {
      if (stream.readyState === EventSource.CLOSED) {
        status.className = "failed";
        status.textContent = "the event stream closed (the link may have expired)";
      }
    };
  }

  if (page.trace) render(page.trace, true);
  else if (page.live) follow(page.live);
})();
