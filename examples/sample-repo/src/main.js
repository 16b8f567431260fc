const { add, multiply } = require('./math');
const config = require('../config.json');

console.log(add(config.base, 2), multiply(config.base, 3));
