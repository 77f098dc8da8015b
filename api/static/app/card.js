// One figure of a result, as a card: a label and its value (read out as "label: text").
// The job's cards (app.js) and the comparison's (compare.js).

export function card(label, value, text = value) {
  const element = document.createElement("div");
  element.className = "card";
  element.setAttribute("role", "group");
  element.setAttribute("aria-label", `${label}: ${text}`);
  const name = document.createElement("div");
  name.textContent = label;
  const number = document.createElement("div");
  number.className = "value";
  number.textContent = value;
  element.append(name, number);
  return element;
}
