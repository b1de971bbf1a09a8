/// The status page's inline CSS. Reads at 1280 px as a table; below 900 px each node's cells wrap
/// into a card, so nothing scrolls sideways at 800 px.
enum StatusPageStyle {
    static let css = """

        :root { --fg: #1d2330; --muted: #5f6b7a; --line: #dfe3e8; --bg: #f6f7f9; --card: #fff;
          --green: #1a7f37; --green-bg: #dcf5e3; --amber: #8a5a00; --amber-bg: #fff1c7;
          --slate: #3d4a5c; --slate-bg: #e3e8ef; --red: #b42318; --red-bg: #fde4e1; --blue: #1f5fbf;
          --chart-ok: #2f6fdb; --chart-err: #d92d20; --chart-p99: #b54708; --chart-p50: #6172f3; --chart-sessions: #0e9384; }
        * { box-sizing: border-box; }
        body { margin: 0; padding: 20px 20px 28px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
          color: var(--fg); background: var(--bg); }
        header { display: flex; align-items: center; justify-content: space-between; flex-wrap: wrap; gap: 10px 16px; margin-bottom: 16px; }
        .title { display: flex; align-items: baseline; flex-wrap: wrap; gap: 4px 10px; }
        h1 { margin: 0; font-size: 22px; letter-spacing: -0.01em; }
        .sub { color: var(--muted); font-size: 14px; }
        .live { color: var(--muted); font-size: 12px; margin-left: 8px; }
        .live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
          background: #a0a8b3; margin-right: 6px; vertical-align: 0; }
        .live.ok::before { background: var(--green); }
        .live.stale { color: var(--red); }
        .live.stale::before { background: var(--red); }
        .controls { display: flex; align-items: center; gap: 16px; }
        .toggle, .token { color: var(--muted); font-size: 12px; display: flex; align-items: center; gap: 6px; }
        .token input { font: inherit; font-size: 13px; width: 220px; padding: 5px 8px; border: 1px solid var(--line);
          border-radius: 6px; background: var(--card); color: var(--fg); }
        .message { margin: 0 0 14px; padding: 9px 12px; border-radius: 6px; border: 1px solid; font-size: 13px; }
        .message.error { color: var(--red); background: var(--red-bg); border-color: #f3b8b1; }
        .message.info { color: var(--green); background: var(--green-bg); border-color: #a9dfb8; }
        .note { color: var(--muted); }
        .cluster { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 18px; }
        .cluster-head { display: flex; align-items: baseline; flex-wrap: wrap; gap: 4px 14px; padding: 12px 16px; border-bottom: 1px solid var(--line); }
        h2 { margin: 0; font-size: 16px; }
        .summary, .totals { color: var(--muted); font-size: 13px; }
        .unserved { color: var(--red); font-size: 13px; }
        table { width: 100%; border-collapse: collapse; font-size: 13px; }
        th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: 0.02em; color: var(--muted);
          font-weight: 600; padding: 8px 7px; background: #fafbfc; border-bottom: 1px solid var(--line); white-space: nowrap; }
        td { padding: 9px 7px 6px; vertical-align: top; }
        tr.node td { border-top: 1px solid var(--line); }
        tbody tr.node:first-child td { border-top: 0; }
        tr.unusable td { background: #fff8f7; }
        .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td small { display: block; color: var(--muted); font-size: 12px; white-space: nowrap; }
        td.name small { white-space: normal; }
        td.health { min-width: 120px; }
        td.health small { max-width: 190px; white-space: normal; overflow-wrap: anywhere; }
        td.name strong { font-size: 14px; }
        code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        td.bad { color: var(--red); font-weight: 600; }
        .badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
        .state-active, .health-up { color: var(--green); background: var(--green-bg); }
        .state-draining { color: var(--amber); background: var(--amber-bg); }
        .state-maintenance { color: var(--slate); background: var(--slate-bg); }
        .health-down { color: var(--red); background: var(--red-bg); }
        .health-unchecked { color: var(--muted); background: #eef0f3; }
        .usable-no { color: var(--red); font-weight: 600; font-size: 12px; margin-left: 6px; }
        td.actions { white-space: nowrap; }
        .act { font: inherit; font-size: 12px; padding: 3px 7px; margin: 0 3px 3px 0; border-radius: 6px; cursor: pointer;
          border: 1px solid #c5ccd6; background: #fff; color: var(--fg); }
        .act:hover:not(:disabled) { border-color: var(--blue); color: var(--blue); }
        .act:disabled { cursor: default; opacity: 0.45; }
        .act.busy { opacity: 0.6; cursor: progress; }
        tr.charts td { padding: 0 7px 10px; }
        body.no-charts tr.charts { display: none; }
        .chart-row { display: flex; flex-wrap: wrap; gap: 8px 14px; }
        .chart { flex: 1 1 220px; min-width: 0; }
        .chart-title { display: flex; justify-content: space-between; gap: 8px; font-size: 11px; color: var(--muted); }
        .chart-title b { color: var(--fg); font-weight: 600; }
        .chart svg { display: block; width: 100%; height: 54px; background: #fafbfc; border: 1px solid #eceff3; border-radius: 4px; }
        .chart-empty { font-size: 12px; color: var(--muted); padding: 4px 0; }
        .mark { display: inline-block; padding-left: 14px; position: relative; margin-right: 6px; }
        .mark::before { content: ""; position: absolute; left: 2px; top: 2px; bottom: 2px; width: 2px; }
        .mark-state::before { background: var(--amber); }
        .mark-health::before { background: var(--red); }
        .mark-ejected::before { background: #7a5af8; }
        footer { color: var(--muted); font-size: 12px; margin-top: 6px; }

        /* Narrow windows: a node is a card whose cells wrap, labelled by their column. */
        @media (max-width: 900px) {
          body { padding: 14px 12px 24px; }
          thead { display: none; }
          table, tbody { display: block; }
          tr.node { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 6px 12px; padding: 10px 12px 4px;
            border-top: 1px solid var(--line); }
          tbody tr.node:first-child { border-top: 0; }
          tr.node td { display: block; padding: 0; border: 0; text-align: left; }
          tr.node td.name { grid-column: 1 / span 2; grid-row: 1; }
          tr.node td.actions { grid-column: 5 / span 2; grid-row: 1; text-align: right; white-space: normal; }
          tr.node td[data-field="state"] { grid-column: 3; grid-row: 1; }
          tr.node td[data-field="health"] { grid-column: 4; grid-row: 1; min-width: 0; }
          tr.node td[data-field="latency"] { grid-column: span 2; }
          tr.node td[data-field]::before { content: attr(data-label); display: block; font-size: 10px; text-transform: uppercase;
            letter-spacing: 0.02em; color: var(--muted); font-weight: 600; }
          td small { white-space: normal; }
          tr.charts { display: block; }
          tr.charts td { display: block; padding: 4px 12px 10px; }
          .token input { width: 160px; }
        }

        """
}
