// What fleetd's pages share (status.js, batch.js load after it): building elements whose values
// go in as text, never as HTML, and the token a page sends off loopback.
"use strict";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// Off loopback fleetd asks for a token (fleet.http-tokens-file): the front page asks once, and it is
// kept for this tab only.
function authHeaders() {
  const token = sessionStorage.getItem("fleetd-token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}
