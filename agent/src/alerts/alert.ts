/**
 * A public alert as the station keeps it, whatever brought it: a CAP 1.2
 * document (in a signed province command or from a polled national feed), a
 * province `play` command of the emergency class, the bridge's emergency
 * button, `loa play --class emergency`. Every one becomes this shape, goes
 * through the same lifecycle (alerts/lifecycle.ts) and the same arbiter, and
 * is named by its identifier in the proof of play.
 *
 * Field names follow CAP 1.2 (OASIS, 2010) so the mapping is one to one;
 * identifiers, codes and geocodes stay strings as sent ("01" is not 1).
 * Times are UTC epoch milliseconds, converted from CAP's dateTime with its
 * mandatory offset.
 */

export type AlertStatus = 'Actual' | 'Exercise' | 'System' | 'Test' | 'Draft';
export type AlertMsgType = 'Alert' | 'Update' | 'Cancel' | 'Ack' | 'Error';
export type AlertScope = 'Public' | 'Restricted' | 'Private';
export type AlertUrgency = 'Immediate' | 'Expected' | 'Future' | 'Past' | 'Unknown';
export type AlertSeverity = 'Extreme' | 'Severe' | 'Moderate' | 'Minor' | 'Unknown';
export type AlertCertainty = 'Observed' | 'Likely' | 'Possible' | 'Unlikely' | 'Unknown';

/** Where an alert came from; the proof of play says it. */
export type AlertOrigin = 'cap-command' | 'cap-feed' | 'province' | 'button' | 'cli';

/** CAP's valueName/value pairs (eventCode, parameter, geocode). */
export interface NamedValue {
  valueName: string;
  value: string;
}

/** An earlier message this one refers to (CAP `references`: "sender,identifier,sent"). */
export interface AlertReference {
  sender: string;
  identifier: string;
  sentMs: number;
}

export interface AlertResource {
  description: string;
  mimeType: string;
  /** Bytes, as the sender declares it. */
  size?: number;
  uri?: string;
  /** The resource itself, base64 (CAP `derefUri`). */
  derefUri?: string;
  /** CAP 1.2 `digest`: SHA-1 of the resource, hex as sent. */
  digest?: string;
}

export interface AlertArea {
  areaDesc: string;
  /** CAP polygons as sent: "lat,lon lat,lon ..." (first point = last). */
  polygons: string[];
  /** CAP circles as sent: "lat,lon radius_km". */
  circles: string[];
  /** Vietnamese administrative unit codes and others, as strings. */
  geocodes: NamedValue[];
}

export interface AlertInfo {
  /** RFC 3066 language, "vi-VN", "en-US"; CAP's default is "en-US". */
  language: string;
  categories: string[];
  event: string;
  responseTypes: string[];
  urgency: AlertUrgency;
  severity: AlertSeverity;
  certainty: AlertCertainty;
  eventCodes: NamedValue[];
  effectiveMs?: number;
  onsetMs?: number;
  expiresMs?: number;
  senderName?: string;
  headline?: string;
  description?: string;
  instruction?: string;
  web?: string;
  contact?: string;
  parameters: NamedValue[];
  resources: AlertResource[];
  areas: AlertArea[];
}

/** One CAP `alert` message, parsed and validated. */
export interface CapAlert {
  identifier: string;
  sender: string;
  sentMs: number;
  status: AlertStatus;
  msgType: AlertMsgType;
  source?: string;
  scope: AlertScope;
  restriction?: string;
  addresses?: string;
  codes: string[];
  note?: string;
  references: AlertReference[];
  incidents: string[];
  info: AlertInfo[];
}
