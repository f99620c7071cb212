// The served page: the form drives the URL, the URL drives /api/bars, the payload is drawn.
"use strict";

(function () {
  const form = document.getElementById("pick");

  function fill(params) {
    for (const [name, value] of params) {
      const input = form.elements[name];
      if (!input) continue;
      if (input.type === "checkbox") input.checked = value === "1" || value === "true";
      else input.value = value;
    }
  }

  function query() {
    const params = new URLSearchParams();
    for (const input of form.elements) {
      if (!input.name || input.value === "") continue;
      if (input.type === "checkbox") { if (input.checked) params.set(input.name, "1"); }
      else params.set(input.name, input.value.trim());
    }
    return params;
  }

  function load(params, pending) {
    document.body.dataset.ready = "0";
    document.getElementById("error").textContent = "";
    delete document.body.dataset.error;
    return (pending || fetch("api/bars?" + params.toString()))
      .then((response) => response.json().then((body) => [response, body]))
      .then(([response, body]) => {
        if (!response.ok) { showError(body.error || response.statusText); return; }
        return drawChart(body);
      })
      .catch((err) => showError(String(err)));
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const params = query();
    history.replaceState(null, "", "?" + params.toString());
    load(params);
  });

  const initial = new URLSearchParams(location.search);
  fill(initial);
  if (initial.get("symbol")) load(initial, window.firstChart);
  else document.body.dataset.ready = "1";
})();
