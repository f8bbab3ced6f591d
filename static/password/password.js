// Rollcall's page for an activation or password-reset link: reads the token from the
// address's fragment (never sent to a server), and posts it with the chosen password to
// POST /api/v1/auth/password/link. Shows the policy's refusals as the API words them.
(function () {
  "use strict";
  var zh = (navigator.language || "").toLowerCase().indexOf("zh") === 0;
  var t = zh ? {
    title: "设置密码", intro: "请设置您的登录密码。建议使用较长的口令短语。",
    labelNew: "新密码", labelAgain: "再次输入", submit: "设置密码",
    mismatch: "两次输入的密码不一致。", done: "密码已设置，现在可以用它登录。",
    noToken: "链接不完整：请打开邮件中的完整链接。", failed: "无法设置密码："
  } : {
    title: "Choose a password", intro: "Choose the password you will sign in with. A long passphrase is best.",
    labelNew: "New password", labelAgain: "The same again", submit: "Set password",
    mismatch: "The two passwords differ.", done: "Your password is set: sign in with it.",
    noToken: "The link is incomplete: open the whole link from the mail.", failed: "The password was not set: "
  };
  var $ = function (id) { return document.getElementById(id); };
  $("title").textContent = t.title;
  document.title = t.title;
  $("intro").textContent = t.intro;
  $("label-new").textContent = t.labelNew;
  $("label-again").textContent = t.labelAgain;
  $("submit").textContent = t.submit;
  if (zh) { document.documentElement.lang = "zh"; }

  var token = new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
  // The token leaves the address bar (and the browser's history) at once.
  history.replaceState(null, "", location.pathname);

  function show(text, kind, items) {
    var box = $("result");
    box.textContent = "";
    var p = document.createElement("p");
    p.className = kind;
    p.textContent = text;
    box.appendChild(p);
    if (items && items.length) {
      var ul = document.createElement("ul");
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = item;
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
  }

  if (!token) {
    show(t.noToken, "error");
    $("submit").disabled = true;
  }

  $("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var pw = $("new").value;
    if (pw !== $("again").value) { show(t.mismatch, "error"); return; }
    $("submit").disabled = true;
    // Beside this page: <prefix>/password → <prefix>/api/v1/auth/password/link.
    var base = location.pathname.replace(/\/password\/?$/, "");
    fetch(base + "/api/v1/auth/password/link", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token, newPassword: pw })
    }).then(function (resp) {
      if (resp.status === 204) {
        show(t.done, "done");
        $("form").hidden = true;
        return;
      }
      return resp.json().then(function (problem) {
        var items = (problem.errors || []).map(function (e) { return e.detail; });
        show(t.failed + (items.length ? "" : problem.detail), "error", items);
        $("submit").disabled = problem.status === 400 || problem.status === 410;
      });
    }).catch(function () {
      show(t.failed + "network error", "error");
      $("submit").disabled = false;
    });
  });
})();
