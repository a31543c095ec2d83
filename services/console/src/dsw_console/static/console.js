// Dataset uploads with a progress bar. Without script the form still posts (multipart) and the
// page reloads; with it, the same form data goes through XMLHttpRequest, whose upload events
// report progress, and the answer (JSON, or problem+json) is shown in place.
(function () {
  "use strict";
  function describe(problem) {
    var text = (problem.title || "Error") + (problem.detail ? ": " + problem.detail : "");
    (problem.errors || []).forEach(function (error) {
      text += "\n" + error.pointer + ": " + error.message;
    });
    return text;
  }
  function enhance(form) {
    var bar = form.querySelector("progress");
    var status = form.querySelector("[role=status]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable) {
          bar.value = Math.round((progress.loaded / progress.total) * 100);
          status.textContent = "Uploading: " + bar.value + " %";
        }
      });
      request.addEventListener("load", function () {
        button.disabled = false;
        var body = {};
        try { body = JSON.parse(request.responseText); } catch (ignored) { body = {}; }
        if (request.status >= 200 && request.status < 300) {
          bar.value = 100;
          status.textContent = "Uploaded. Batch " + body.batch_id + " is being ingested.";
          document.body.dispatchEvent(new Event("batches-changed"));
          form.reset();
        } else {
          status.textContent = "Upload failed. " + describe(body.title ? body : {title: "Error " + request.status});
        }
      });
      request.addEventListener("error", function () {
        button.disabled = false;
        status.textContent = "Upload failed: the console cannot be reached.";
      });
      button.disabled = true;
      bar.value = 0;
      bar.hidden = false;
      status.textContent = "Uploading…";
      request.send(new FormData(form));
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(enhance);
  });
})();
