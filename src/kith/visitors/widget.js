/* Kith widget sync: window.Kith.identify / setDeal / setStage (seed 000).
 * <script src="https://your-kith/widget.js" data-key="pk_..."></script>
 * or window.Kith.init({key: "pk_...", baseUrl: "https://your-kith"}).
 * Each call returns a Promise of the JSON answer and rejects with the problem+json on errors. */
(function () {
  "use strict";
  var script = document.currentScript;
  var config = {
    key: script && script.getAttribute("data-key"),
    baseUrl: script && script.src ? new URL(script.src).origin : ""
  };
  var visitorId = null;

  function post(path, body) {
    if (!config.key) { return Promise.reject(new Error("Kith: no widget key; call Kith.init({key})")); }
    return fetch(config.baseUrl + "/api/v1/widget/" + path, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Kith-Widget-Key": config.key},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { var e = new Error(data.detail || ("HTTP " + r.status)); e.problem = data; throw e; }
        return data;
      });
    });
  }

  function withVisitor(payload) {
    var body = Object.assign({}, payload || {});
    if (!body.visitor_id) { body.visitor_id = visitorId; }
    return body;
  }

  window.Kith = {
    init: function (options) { Object.assign(config, options || {}); return window.Kith; },
    identify: function (payload) {
      var body = Object.assign({}, payload || {});
      visitorId = body.visitor_id || visitorId;
      return post("identify", body);
    },
    setDeal: function (payload) { return post("deal", withVisitor(payload)); },
    setStage: function (payload) { return post("stage", withVisitor(payload)); }
  };
})();
