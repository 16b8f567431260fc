const add = (a, b) => a + b;
const multiply = (a, b) => a * b;

module.exports = { add, multiply };
