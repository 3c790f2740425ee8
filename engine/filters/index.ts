/** Filters: registered filter documents, their validation and limits, and the pin index (which sources filters keep hot). */
export { createFilterService, createPinIndex, pinsWanted, type FilterService, type FilterDoc, type FilterStore, type PinIndex } from './pinning.js';
