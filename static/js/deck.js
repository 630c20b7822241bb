// Presents a module's slides with reveal.js: a deep link per slide (#/3), the speaker
// view on "S" (the notes plugin), and print to PDF through ?print-pdf.
/* global Reveal, RevealNotes */
// The speaker view frames this page as a "receiver": the slide alone, without the page's bar.
if (new URLSearchParams(window.location.search).has("receiver")) {
  document.documentElement.classList.add("deck-receiver");
}
Reveal.initialize({
  hash: true,
  history: false,
  slideNumber: "c/t",
  controls: true,
  progress: true,
  center: false,
  width: 1200,
  height: 760,
  plugins: [RevealNotes],
});

// reveal's speaker view tells its "upcoming" frame which slide to show once, as soon as the
// "current" frame is ready; a slower upcoming frame misses it and shows the first slide
// until the next move. Sending the state again shortly after the speaker view connects
// brings it in line ("resumed" is an event on which the notes plugin sends the state, and
// that changes nothing else).
window.addEventListener("message", (event) => {
  if (event.origin !== window.location.origin || typeof event.data !== "string") return;
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  if (data && data.namespace === "reveal-notes" && data.type === "connected") {
    for (const delay of [1000, 3000]) {
      window.setTimeout(() => document.querySelector(".reveal").dispatchEvent(new Event("resumed")), delay);
    }
  }
});
