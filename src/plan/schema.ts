/**
 * The plan format is domain vocabulary: it lives in src/domain/plan-schema.ts so that domain code, which imports
 * nothing outside src/domain, can name its types. Loading, validation and description import it from here.
 */
export * from '../domain/plan-schema';
