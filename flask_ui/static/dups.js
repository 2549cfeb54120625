// Index page, duplicates: bulk select. A running count of the ticked copies, and one button
// that ticks every copy the user may change (only those have a checkbox at all).
document.addEventListener("DOMContentLoaded", () => {
  const checks = Array.from(document.querySelectorAll(".dup-check"));
  const count = document.querySelector("#dup-selected");
  const update = () => {
    if (count) count.textContent = `${checks.filter((c) => c.checked).length} selected`;
  };
  checks.forEach((c) => c.addEventListener("change", update));
  const all = document.querySelector("#dup-select-all");
  if (all) all.addEventListener("click", () => { checks.forEach((c) => { c.checked = true; }); update(); });
  const form = document.querySelector("#dup-act");
  if (form) form.addEventListener("submit", (event) => {
    if (!checks.some((c) => c.checked)) {
      event.preventDefault();
      if (count) count.textContent = "tick at least one copy first";
    }
  });
});
