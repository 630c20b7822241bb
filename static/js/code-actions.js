// "Copy" on every code block of course content, and on exercise pages with a terminal of
// one's own "Run in terminal" on shell blocks: it pastes the block's commands (without
// their "$ " prompts and without the output lines) into the terminal and presses Enter.
(function () {
  "use strict";

  // The commands of a console block: the lines after a "$ " prompt, and the lines that
  // continue them (a trailing backslash). A block without prompts is all commands.
  function commandsOf(pre) {
    const lines = pre.textContent.replace(/\n$/, "").split("\n");
    if (!pre.querySelector(".gp")) return lines.join("\n");
    const commands = [];
    let continued = false;
    for (const line of lines) {
      if (line.startsWith("$ ")) {
        commands.push(line.slice(2));
      } else if (continued) {
        commands.push(line);
      } else {
        continue;
      }
      continued = line.endsWith("\\");
    }
    return commands.join("\n");
  }

  function flash(button, text) {
    const label = button.textContent;
    button.textContent = text;
    setTimeout(() => { button.textContent = label; }, 1200);
  }

  function copy(text) {
    if (window.Lotse && window.Lotse.copyText) return window.Lotse.copyText(text);
    return navigator.clipboard.writeText(text);
  }

  function button(label, onClick) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "code-action";
    element.textContent = label;
    element.addEventListener("click", onClick);
    return element;
  }

  const runButtons = [];

  function decorate(block) {
    const pre = block.querySelector("pre");
    if (!pre || block.dataset.actions) return;
    block.dataset.actions = "1";
    const bar = document.createElement("div");
    bar.className = "code-actions";
    const prompts = Boolean(pre.querySelector(".gp"));
    bar.append(button("Copy", (event) => {
      copy(prompts ? commandsOf(pre) : pre.textContent).then(
        () => flash(event.target, "Copied"),
        () => flash(event.target, "Copy failed"),
      );
    }));
    if (prompts && block.closest(".exercise-instructions")) {
      const run = button("Run in terminal", () => {
        const terminal = window.Lotse && window.Lotse.writableTerminal();
        if (terminal) terminal.run(commandsOf(pre));
      });
      run.hidden = true;
      runButtons.push(run);
      bar.append(run);
    }
    block.prepend(bar);
  }

  function showRunButtons() {
    const terminal = window.Lotse && window.Lotse.writableTerminal && window.Lotse.writableTerminal();
    runButtons.forEach((run) => { run.hidden = !terminal; });
  }

  document.querySelectorAll(".prose .highlight, .reveal .slides .highlight").forEach(decorate);
  showRunButtons();
  document.addEventListener("lotse:terminals", showRunButtons);
})();
