// The Derrick demo page: a Telegram-like client of the in-process Telegram
// emulator. Messages arrive as server-sent events (one snapshot of the chat
// per change); their HTML is sanitized by the server (Sanitize in
// sanitize.go) before it gets here.
"use strict";

const T = {
  en: {
    writeAs: "You write as", chats: "Chats", bot: "bot", group: "team's group · audit · read-only",
    roles: { operator: "operator", viewer: "viewer", stranger: "no access" },
    via: {
      "list operator": "in CHATOPS_OPERATORS", "list viewer": "in CHATOPS_VIEWERS",
      "group operator": "admin of the team's group", "group viewer": "in no list: via the team's group",
      "group stranger": "in no list, not in the group",
    },
    message: "Message", start: "Start", edited: "edited", today: "Today", yesterday: "Yesterday",
    commands: "Commands", send: "Send", connecting: "Connecting…", whatCan: "What can this bot do?",
    about: "I manage the Deployment {deployment} in namespace {namespace} and the cluster's nodes: versions, rollouts, replicas, cordons, pods and logs.\n\nThis is a demo: the cluster is simulated and Telegram runs inside the demo. Press Start.",
    readonly: "The bot announces every change here. Only the bot writes to this group in the demo.",
    foot: "Everything here runs inside one process: the production bot, a Telegram emulator and a simulated cluster. Switch accounts to see what each role may do.",
    you: "you",
  },
  ru: {
    writeAs: "Вы пишете как", chats: "Чаты", bot: "бот", group: "группа команды · аудит · только чтение",
    roles: { operator: "оператор", viewer: "наблюдатель", stranger: "нет доступа" },
    via: {
      "list operator": "в CHATOPS_OPERATORS", "list viewer": "в CHATOPS_VIEWERS",
      "group operator": "админ группы команды", "group viewer": "не в списках: через группу команды",
      "group stranger": "не в списках и не в группе",
    },
    message: "Сообщение", start: "Запустить", edited: "изменено", today: "Сегодня", yesterday: "Вчера",
    commands: "Команды", send: "Отправить", connecting: "Соединение…", whatCan: "Что умеет этот бот?",
    about: "Я управляю Deployment {deployment} в namespace {namespace} и нодами кластера: версии, выкатки, реплики, cordon, поды и логи.\n\nЭто демо: кластер симулирован, Telegram работает внутри демо. Нажмите «Запустить».",
    readonly: "Бот сообщает сюда о каждом изменении. В демо в эту группу пишет только бот.",
    foot: "Всё работает в одном процессе: бот из продакшена, эмулятор Telegram и симулированный кластер. Переключайте аккаунты, чтобы увидеть права каждой роли.",
    you: "вы",
  },
};

const $ = (id) => document.getElementById(id);
const state = {
  config: null, t: T.en, me: null, chat: null, es: null,
  els: new Map(), lastDay: "", lastFrom: null, menu: [], sel: -1, count: 0,
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function init() {
  const res = await fetch("/api/config");
  state.config = await res.json();
  state.t = T[state.config.lang] || T.en;
  document.documentElement.lang = state.config.lang;
  translate();
  const byRole = location.hash.replace(/^#/, "");
  const who = state.config.people.find((p) => p.role === byRole) || state.config.people[0];
  state.me = who.id;
  renderPeople();
  openChat(who.id);

  $("send").addEventListener("click", () => submit());
  $("input").addEventListener("keydown", onKey);
  $("input").addEventListener("input", () => showMenu($("input").value.startsWith("/") && !/\s/.test($("input").value)));
  $("menu-btn").addEventListener("click", () => showMenu($("menu").hidden, true));
  $("start-btn").addEventListener("click", () => sendText("/start"));
  $("me-select").addEventListener("change", (e) => switchTo(Number(e.target.value)));
  document.addEventListener("click", (e) => {
    if (!$("menu").hidden && !e.target.closest("#menu, #menu-btn, #input")) showMenu(false);
  });
}

function translate() {
  const t = state.t;
  for (const e of document.querySelectorAll("[data-t]")) {
    const v = t[e.dataset.t];
    if (typeof v === "string") e.textContent = v;
  }
  $("readonly").textContent = t.readonly;
  $("input").placeholder = t.message;
  $("menu-btn").title = t.commands;
  $("menu-btn").setAttribute("aria-label", t.commands);
  $("send").title = t.send;
  $("send").setAttribute("aria-label", t.send);
  $("about").textContent = t.about
    .replace("{deployment}", state.config.deployment)
    .replace("{namespace}", state.config.namespace);
}

function avatar(p, i) {
  const a = el("span", "avatar c" + i, p.name.slice(0, 1));
  a.setAttribute("aria-hidden", "true");
  return a;
}

function renderPeople() {
  const t = state.t;
  const ul = $("people");
  ul.textContent = "";
  const sel = $("me-select");
  sel.textContent = "";
  state.config.people.forEach((p, i) => {
    const li = el("li");
    li.dataset.role = p.role;
    li.dataset.id = p.id;
    li.className = p.id === state.me ? "active" : "";
    li.title = "Telegram ID " + p.id;
    const who = el("div", "who");
    const name = el("div", "name", p.name);
    name.append(el("span", "role " + p.role, t.roles[p.role]));
    who.append(name, el("div", "sub", "@" + p.username + " · " + p.id), el("div", "sub via", t.via[p.via + " " + p.role] || ""));
    li.append(avatar(p, i), who);
    li.addEventListener("click", () => switchTo(p.id));
    ul.append(li);
    const o = el("option", "", p.name + " · " + t.roles[p.role]);
    o.value = p.id;
    o.selected = p.id === state.me;
    sel.append(o);
  });
  renderChats();
}

function renderChats() {
  const t = state.t;
  const ul = $("chats");
  ul.textContent = "";
  const dm = el("li");
  dm.dataset.chat = state.me;
  dm.className = state.chat === state.me ? "active" : "";
  const a = el("span", "avatar bot");
  const who = el("div", "who");
  who.append(el("div", "name", state.config.bot.name), el("div", "sub", "@" + state.config.bot.username + " · " + t.bot));
  dm.append(a, who);
  dm.addEventListener("click", () => openChat(state.me));
  const g = el("li");
  g.dataset.chat = state.config.audit.id;
  g.className = state.chat === state.config.audit.id ? "active" : "";
  const ga = el("span", "avatar group", state.config.audit.title.slice(0, 1));
  const gw = el("div", "who");
  gw.append(el("div", "name", state.config.audit.title), el("div", "sub", t.group));
  g.append(ga, gw);
  g.addEventListener("click", () => openChat(state.config.audit.id));
  ul.append(dm, g);
}

function switchTo(id) {
  state.me = id;
  const p = state.config.people.find((x) => x.id === id);
  history.replaceState(null, "", "#" + p.role);
  renderPeople();
  if (state.chat !== state.config.audit.id) openChat(id);
}

function openChat(id) {
  if (state.es) state.es.close();
  state.chat = id;
  state.els.clear();
  state.lastDay = "";
  state.lastFrom = null;
  state.count = 0;
  $("log").textContent = "";
  showMenu(false);
  renderChats();
  const group = id === state.config.audit.id;
  const head = $("chat-avatar");
  head.className = "avatar " + (group ? "group" : "bot");
  head.textContent = group ? state.config.audit.title.slice(0, 1) : "";
  $("chat-name").textContent = group ? state.config.audit.title : state.config.bot.name;
  $("chat-sub").textContent = group ? state.t.group : state.t.bot;
  $("composer").hidden = group;
  $("readonly").hidden = !group;
  $("start").hidden = true;
  $("empty").hidden = true;
  const es = new EventSource("/api/chats/" + id + "/events");
  es.onmessage = (e) => render(JSON.parse(e.data));
  es.onerror = () => { $("status").hidden = false; };
  es.onopen = () => { $("status").hidden = true; };
  state.es = es;
}

function dayLabel(d) {
  const t = state.t;
  const today = new Date();
  const y = new Date(today);
  y.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return t.today;
  if (d.toDateString() === y.toDateString()) return t.yesterday;
  return d.toLocaleDateString(state.config.lang, { day: "numeric", month: "long" });
}

function render(s) {
  if (s.messages.length < state.count) {
    // The demo was restarted: its emulator starts the chat afresh.
    $("log").textContent = "";
    state.els.clear();
    state.lastDay = "";
    state.lastFrom = null;
  }
  state.menu = s.menu || [];
  if (!$("menu").hidden) showMenu(true, $("menu").dataset.all === "1");
  const scroll = $("scroll");
  const atBottom = scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 80;
  let mine = false;
  for (const m of s.messages) {
    const rev = m.html + "|" + m.edited + "|" + (m.document ? m.document.url : "") + "|" + JSON.stringify(m.keyboard || []);
    let row = state.els.get(m.id);
    if (!row) {
      const d = new Date(m.date);
      const day = d.toDateString();
      if (day !== state.lastDay) {
        $("log").append(el("div", "day", dayLabel(d)));
        state.lastDay = day;
        state.lastFrom = null;
      }
      row = el("div", "row " + (m.fromBot ? "in" : "out"));
      row.dataset.id = m.id;
      row.dataset.from = m.fromBot ? "bot" : "user";
      const sender = m.fromBot ? "bot" : m.from;
      if (sender !== state.lastFrom) row.classList.add("first");
      const prev = $("log").lastElementChild;
      if (prev && prev.classList.contains("row") && sender === state.lastFrom) prev.classList.remove("last");
      row.classList.add("last");
      state.lastFrom = sender;
      $("log").append(row);
      state.els.set(m.id, row);
      if (!m.fromBot) mine = true;
    }
    if (row.dataset.rev !== rev) {
      fill(row, m);
      row.dataset.rev = rev;
    }
  }
  state.count = s.messages.length;
  const dm = state.chat !== state.config.audit.id;
  $("empty").hidden = !(dm && s.messages.length === 0);
  $("start").hidden = !(dm && s.messages.length === 0);
  $("composer").hidden = !dm || s.messages.length === 0;
  if (atBottom || mine) scroll.scrollTop = scroll.scrollHeight;
}

function fill(row, m) {
  const t = state.t;
  row.textContent = "";
  const b = el("div", "bubble");
  const group = state.chat === state.config.audit.id;
  if (group && row.classList.contains("first")) b.append(el("div", "from", m.from));
  if (m.document) {
    const a = el("a", "doc");
    a.href = m.document.url;
    a.download = m.document.name;
    const icon = el("span", "doc-icon");
    icon.innerHTML = '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true"><path fill="currentColor" d="M12 15.6 7.4 11l1.4-1.4 2.2 2.2V4h2v7.8l2.2-2.2 1.4 1.4zM5 18h14v2H5z"/></svg>';
    const info = el("div");
    info.append(el("div", "doc-name", m.document.name), el("div", "doc-size", size(m.document.size)));
    a.append(icon, info);
    b.append(a);
  }
  const text = el("div", "text");
  text.innerHTML = m.html; // sanitized by the server
  if (!group) linkCommands(text); // in the group a tap would write there, and only the bot does
  for (const sp of text.querySelectorAll(".tg-spoiler")) sp.addEventListener("click", () => sp.classList.add("shown"));
  const meta = el("span", "meta");
  if (m.edited) meta.append(el("span", "edited", t.edited));
  const d = new Date(m.date);
  meta.append(document.createTextNode(d.toLocaleTimeString(state.config.lang, { hour: "numeric", minute: "2-digit" })));
  if (!m.fromBot) {
    const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 20 12");
    s.setAttribute("width", "18");
    s.setAttribute("height", "12");
    s.innerHTML = '<path fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" d="M1.5 6.5 5 10l7-8M9 10l7-8"/>';
    meta.append(s);
  }
  text.append(meta);
  b.append(text);
  if (m.keyboard && m.keyboard.length) {
    const col = el("div", "with-kb");
    col.append(b, keyboard(m));
    row.append(col);
  } else row.append(b);
}

// keyboard draws a message's inline keyboard; a press goes to the bot as
// the account the page writes as.
function keyboard(m) {
  const kb = el("div", "keyboard");
  for (const line of m.keyboard) {
    const r = el("div", "kb-row");
    for (const btn of line) {
      const x = el("button", "kb-btn", btn.text);
      x.type = "button";
      if (btn.callback_data !== undefined) x.dataset.data = btn.callback_data;
      x.addEventListener("click", () => press(m.id, btn.callback_data || ""));
      r.append(x);
    }
    kb.append(r);
  }
  return kb;
}

async function press(id, data) {
  const res = await fetch("/api/chats/" + state.chat + "/press", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ message: id, data }),
  });
  if (!res.ok) {
    $("status").textContent = await res.text();
    $("status").hidden = false;
  }
}

function size(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

// linkCommands makes /commands in the bot's text clickable, as Telegram does.
function linkCommands(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement.closest("a, code, pre") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  const re = /(^|[\s(«"])(\/[a-z0-9_]{1,32})(?![\w/])/gi;
  for (const n of nodes) {
    const s = n.nodeValue;
    re.lastIndex = 0;
    if (!re.test(s)) continue;
    re.lastIndex = 0;
    const frag = document.createDocumentFragment();
    let last = 0;
    for (let m; (m = re.exec(s)); ) {
      const at = m.index + m[1].length;
      frag.append(s.slice(last, at));
      const a = el("span", "cmd", m[2]);
      a.setAttribute("role", "link");
      a.addEventListener("click", () => sendText(m[2]));
      frag.append(a);
      last = at + m[2].length;
    }
    frag.append(s.slice(last));
    n.replaceWith(frag);
  }
}

function showMenu(open, all) {
  const menu = $("menu");
  $("menu-btn").classList.toggle("open", !!open);
  if (!open) {
    menu.hidden = true;
    state.sel = -1;
    return;
  }
  const typed = $("input").value.trim().toLowerCase();
  const items = state.menu.filter((c) => all || ("/" + c.command).startsWith(typed));
  menu.dataset.all = all ? "1" : "";
  menu.textContent = "";
  items.forEach((c, i) => {
    const it = el("div", "cmd-item" + (i === state.sel ? " sel" : ""));
    it.setAttribute("role", "option");
    it.dataset.command = c.command;
    it.append(el("span", "cmd-name", "/" + c.command), el("span", "cmd-desc", c.description));
    it.addEventListener("click", () => { showMenu(false); sendText("/" + c.command); });
    menu.append(it);
  });
  menu.hidden = items.length === 0;
}

function onKey(e) {
  const menu = $("menu");
  const items = menu.hidden ? [] : [...menu.querySelectorAll(".cmd-item")];
  if (items.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    e.preventDefault();
    state.sel = (state.sel + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    items.forEach((it, i) => it.classList.toggle("sel", i === state.sel));
    return;
  }
  if (items.length && e.key === "Tab") {
    e.preventDefault();
    const it = items[Math.max(state.sel, 0)];
    $("input").value = "/" + it.dataset.command + " ";
    showMenu(false);
    return;
  }
  if (e.key === "Escape") { showMenu(false); return; }
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    if (items.length && state.sel >= 0) {
      const cmd = "/" + items[state.sel].dataset.command;
      showMenu(false);
      sendText(cmd);
      return;
    }
    submit();
  }
}

function submit() {
  const input = $("input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  showMenu(false);
  sendText(text);
  input.focus();
}

async function sendText(text) {
  if (state.chat !== state.me) openChat(state.me);
  const res = await fetch("/api/chats/" + state.me + "/messages", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text }),
  });
  if (!res.ok) {
    $("status").textContent = await res.text();
    $("status").hidden = false;
  }
}

init();
