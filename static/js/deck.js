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
