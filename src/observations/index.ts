export { ensureObservationStream } from './observation_stream.js';
export {
  OBSERVATIONS_STREAM,
  OBSERVATIONS_SUBJECT_PREFIX,
  observationId,
  observationSubject,
  openObservation,
  parseObservation,
  sealObservation,
} from './session_observation.js';
export type { SessionObservation } from './session_observation.js';
export { SessionObserver } from './session_observer.js';
