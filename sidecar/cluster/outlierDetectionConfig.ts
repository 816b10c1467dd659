import { z } from 'zod';
import { DurationField } from '../config/fields.js';

/**
 * `outlier_detection`: passive ejection of endpoints that fail, with Envoy's keys and meanings
 * (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/outlier_detection.proto).
 * Every key has a default, so `{}` turns detection on with Envoy's settings.
 */

const Count = z.number().int().min(0);
const Percent = z.number().int().min(0).max(100);

export const OutlierDetectionSchema = z
  .strictObject({
    /** `false` keeps every endpoint in service whatever it answers. */
    enabled: z.boolean().default(true),
    /** Consecutive 5xx (local failures included unless split) that eject an endpoint; 0 turns the detector off. */
    consecutive_5xx: Count.default(5),
    /** Consecutive 502/503/504 (local failures included unless split) that eject an endpoint; 0 turns it off. */
    consecutive_gateway_failure: Count.default(5),
    /** Consecutive local failures (connect, reset, timeout) that eject when split; 0 turns it off. */
    consecutive_local_origin_failure: Count.default(5),
    /** Count local failures apart from the upstream's own answers (Envoy's split mode). */
    split_external_local_origin_errors: z.boolean().default(false),
    /** How often success rate and failure percentage are evaluated over the requests since the last time. */
    interval: DurationField.prefault('10s'),
    /** An ejection lasts this long times the number of times the endpoint has been ejected. */
    base_ejection_time: DurationField.prefault('30s'),
    /** No ejection lasts longer than this. */
    max_ejection_time: DurationField.prefault('300s'),
    /** At most this share of endpoints is ejected at once, though one ejection is always allowed. */
    max_ejection_percent: Percent.default(10),
    /** Chance, in percent, that a consecutive-5xx ejection is applied. */
    enforcing_consecutive_5xx: Percent.default(100),
    /** Chance, in percent, that a consecutive-gateway-failure ejection is applied (Envoy: 0; Tandem enforces it). */
    enforcing_consecutive_gateway_failure: Percent.default(100),
    /** Chance, in percent, that a consecutive-local-failure ejection is applied. */
    enforcing_consecutive_local_origin_failure: Percent.default(100),
    /** Chance, in percent, that a success-rate ejection is applied. */
    enforcing_success_rate: Percent.default(100),
    /** Chance, in percent, that a failure-percentage ejection is applied (Envoy: 0; Tandem enforces it). */
    enforcing_failure_percentage: Percent.default(100),
    /** Endpoints with enough requests needed before success rate is judged at all. */
    success_rate_minimum_hosts: Count.default(5),
    /** Requests in an interval an endpoint needs to take part in success rate. */
    success_rate_request_volume: Count.default(100),
    /** Ejects below mean − (factor / 1000) × stdev of the success rates. */
    success_rate_stdev_factor: Count.default(1900),
    /** Failure percent in an interval at or above which an endpoint is ejected. */
    failure_percentage_threshold: Percent.default(85),
    /** Endpoints with enough requests needed before failure percentage is judged at all. */
    failure_percentage_minimum_hosts: Count.default(5),
    /** Requests in an interval an endpoint needs to take part in failure percentage. */
    failure_percentage_request_volume: Count.default(50),
  })
  .superRefine((config, ctx) => {
    if (config.interval.ms <= 0) {
      ctx.addIssue({ code: 'custom', path: ['interval'], message: 'must be longer than 0s' });
    }
    if (config.max_ejection_time.ms < config.base_ejection_time.ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_ejection_time'],
        message: `max_ejection_time (${config.max_ejection_time.toString()}) is shorter than base_ejection_time (${config.base_ejection_time.toString()})`,
      });
    }
  });

export type OutlierDetectionConfig = z.output<typeof OutlierDetectionSchema>;
