import { z } from 'zod';
import { strict } from '../lib/strict.js';
import type { AlertArea, AlertInfo, NamedValue } from './alert.js';

/**
 * Where an alert plays at this station: its `area` blocks (Vietnamese
 * administrative unit codes as geocodes, CAP polygons and circles) mapped to
 * the station's zones. Pure: `zonesForInfo(info, area)` and
 * `zonesForInfos(infos, area)` answer from data only.
 *
 * Rules (docs/alerts.md says the same for operators):
 * - Geocodes match as exact strings ("00292" is not "292"); with
 *   `geocodeNames` set only geocodes of those valueNames count.
 * - The station's own commune code, or any code in `containedIn` (its
 *   district and province), means the whole station; so does the parameter
 *   LOA_STATION_WIDE = true/1/yes, the province's explicit marker.
 * - A code listed in `codes` (a village, a residential group) means the
 *   zones (or zone groups) it maps to.
 * - A polygon or circle covers a zone when it overlaps the zone's polygon
 *   or, for a zone given only as a point, contains that point (circles by
 *   great-circle distance, the radius in km as CAP says).
 * - An area covering every zone is station-wide.
 * - An info block with no `area` at all is station-wide: the province
 *   addressed the message to this station (envelope, feed subscription) and
 *   CAP makes `area` optional for messages meant for every recipient.
 * - A station with no `alerts.area` configuration treats every alert as
 *   station-wide (a one-zone cluster box needs no map).
 */

const code = z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, 'use 1-32 letters, digits, ".", "_" or "-" (codes are strings: keep leading zeros)');
const zoneOrGroup = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'use 1-32 lowercase letters, digits, "-" or "_"');
const latLon = z.tuple([z.number().min(-90).max(90), z.number().min(-180).max(180)]);

export const ZoneLocationSchema = strict
  .object({
    /** [lat, lon] of the zone's horns. */
    point: latLon.optional(),
    /** The area the zone's horns serve, [lat, lon] vertices (closing back to the first is implied). */
    polygon: z.array(latLon).min(3).max(500).optional(),
  })
  .refine((l) => l.point !== undefined || l.polygon !== undefined, { message: 'give point or polygon (or both)' });

export const AlertAreaConfigSchema = strict.object({
  /** This station's commune code (5 digits in the Vietnamese scheme, e.g. "00292"): station-wide. */
  commune: code.optional(),
  /** Codes of the units containing the commune (district "001", province "01"): station-wide too. */
  containedIn: z.array(code).max(20).default([]),
  /** Only geocodes with these valueNames count; absent: any valueName. */
  geocodeNames: z.array(z.string().min(1).max(64)).max(20).optional(),
  /** A village or group code → the zones (or zone groups) it means. */
  codes: z.record(code, z.array(zoneOrGroup).min(1).max(64)).default({}),
  /** Named sets of zones, usable in `codes`. */
  groups: z.record(zoneOrGroup, z.array(zoneOrGroup).min(1).max(64)).default({}),
  /** Where each zone is, for CAP polygons and circles. */
  zones: z.record(zoneOrGroup, ZoneLocationSchema).default({}),
});
export type AlertAreaConfig = z.infer<typeof AlertAreaConfigSchema>;

/** The parameter by which the province marks an alert station-wide. */
export const STATION_WIDE_PARAMETER = 'LOA_STATION_WIDE';

export type AreaTarget =
  | { kind: 'station'; reason: string }
  | { kind: 'zones'; zones: string[]; reason: string }
  | { kind: 'none'; reason: string };

/**
 * Names in the area configuration that are neither a zone of the station nor
 * a group, as operator-facing messages (for the config schema's superRefine).
 */
export function checkAlertAreaNames(area: AlertAreaConfig, zoneNames: readonly string[]): string[] {
  const zones = new Set(zoneNames);
  const problems: string[] = [];
  for (const [group, members] of Object.entries(area.groups)) {
    if (zones.has(group)) problems.push(`alerts.area.groups: "${group}" is already a zone name`);
    for (const m of members) if (!zones.has(m)) problems.push(`alerts.area.groups.${group}: no zone named "${m}"`);
  }
  for (const [c, names] of Object.entries(area.codes)) {
    for (const n of names) if (!zones.has(n) && !(n in area.groups)) problems.push(`alerts.area.codes.${c}: no zone or group named "${n}"`);
  }
  for (const z of Object.keys(area.zones)) if (!zones.has(z)) problems.push(`alerts.area.zones: no zone named "${z}"`);
  return problems;
}

/** Union of what several info blocks target. */
export function zonesForInfos(infos: readonly AlertInfo[], area: AlertAreaConfig | undefined, zoneNames: readonly string[]): AreaTarget {
  const zones = new Set<string>();
  const reasons: string[] = [];
  for (const info of infos) {
    const t = zonesForInfo(info, area, zoneNames);
    if (t.kind === 'station') return t;
    if (t.kind === 'zones') {
      t.zones.forEach((z) => zones.add(z));
      reasons.push(t.reason);
    }
  }
  if (zones.size === 0) return { kind: 'none', reason: 'area not this station' };
  return wholeOrZones(zones, zoneNames, reasons.join('; '));
}

/**
 * What one info block targets here. `zoneNames` are the station's zones
 * (config relays.zones), so "every zone" can be told from "some".
 */
export function zonesForInfo(info: AlertInfo, area: AlertAreaConfig | undefined, zoneNames: readonly string[]): AreaTarget {
  if (isStationWideMarked(info.parameters)) return { kind: 'station', reason: `${STATION_WIDE_PARAMETER} set` };
  if (info.areas.length === 0) return { kind: 'station', reason: 'no area given' };
  if (!area) return { kind: 'station', reason: 'station has no area map' };
  const wide = new Set([...(area.commune !== undefined ? [area.commune] : []), ...area.containedIn]);
  const zones = new Set<string>();
  const reasons: string[] = [];
  for (const a of info.areas) {
    for (const g of countedGeocodes(a.geocodes, area)) {
      if (wide.has(g.value)) return { kind: 'station', reason: `geocode ${g.value} covers the commune` };
      const mapped = area.codes[g.value];
      if (mapped) {
        expand(mapped, area).forEach((z) => zones.add(z));
        reasons.push(`geocode ${g.value}`);
      }
    }
    for (const [zone, loc] of Object.entries(area.zones)) {
      if (zones.has(zone)) continue;
      const hit = shapesCover(a, loc);
      if (hit) {
        zones.add(zone);
        reasons.push(`${hit} covers ${zone}`);
      }
    }
  }
  if (zones.size === 0) return { kind: 'none', reason: 'area not this station' };
  return wholeOrZones(zones, zoneNames, reasons.join('; '));
}

function wholeOrZones(zones: Set<string>, zoneNames: readonly string[], reason: string): AreaTarget {
  if (zoneNames.length > 0 && zoneNames.every((z) => zones.has(z))) return { kind: 'station', reason: `${reason} (every zone)` };
  // Zones the station does not have (a stale map) are dropped rather than driven.
  const known = zoneNames.length > 0 ? [...zones].filter((z) => zoneNames.includes(z)) : [...zones];
  if (known.length === 0) return { kind: 'none', reason: `area maps to zones this station does not have: ${[...zones].join(', ')}` };
  return { kind: 'zones', zones: known.sort(), reason };
}

export function isStationWideMarked(parameters: readonly NamedValue[]): boolean {
  return parameters.some((p) => p.valueName === STATION_WIDE_PARAMETER && /^(true|1|yes)$/i.test(p.value.trim()));
}

function countedGeocodes(geocodes: readonly NamedValue[], area: AlertAreaConfig): NamedValue[] {
  const names = area.geocodeNames;
  // Exact strings, only trimmed of the whitespace XML may wrap them in: "00292" never equals "292".
  return geocodes.filter((g) => !names || names.includes(g.valueName)).map((g) => ({ valueName: g.valueName, value: g.value.trim() }));
}

function expand(names: readonly string[], area: AlertAreaConfig): string[] {
  return names.flatMap((n) => area.groups[n] ?? [n]);
}

// ---- geometry: [lat, lon] pairs; planar in degrees for polygons (a commune is a few km across), great circle for circles.

export type LatLon = readonly [number, number];
type ZoneLocation = z.infer<typeof ZoneLocationSchema>;

/** "lat,lon lat,lon ..." → points, or null when malformed (fewer than 4 points, a number out of range). */
export function parseCapPolygon(s: string): LatLon[] | null {
  const pts = s.trim().split(/\s+/).map(parsePoint);
  if (pts.length < 4 || pts.some((p) => p === null)) return null;
  return pts as LatLon[];
}

/** "lat,lon radius_km" → centre and radius, or null when malformed. */
export function parseCapCircle(s: string): { centre: LatLon; radiusKm: number } | null {
  const [c, r, extra] = s.trim().split(/\s+/);
  const centre = c === undefined ? null : parsePoint(c);
  const radiusKm = Number(r);
  if (!centre || extra !== undefined || r === undefined || !Number.isFinite(radiusKm) || radiusKm < 0) return null;
  return { centre, radiusKm };
}

function parsePoint(s: string): LatLon | null {
  const parts = s.split(',');
  if (parts.length !== 2) return null;
  const lat = Number(parts[0]);
  const lon = Number(parts[1]);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return [lat, lon];
}

/** Which shape of the area covers the zone ("polygon 1", "circle 2"), or null. Malformed shapes cover nothing. */
function shapesCover(a: AlertArea, loc: ZoneLocation): string | null {
  for (const [i, s] of a.polygons.entries()) {
    const poly = parseCapPolygon(s);
    if (poly && polygonCoversZone(poly, loc)) return `polygon ${i + 1}`;
  }
  for (const [i, s] of a.circles.entries()) {
    const circle = parseCapCircle(s);
    if (circle && circleCoversZone(circle, loc)) return `circle ${i + 1}`;
  }
  return null;
}

function polygonCoversZone(poly: readonly LatLon[], loc: ZoneLocation): boolean {
  if (loc.polygon) return polygonsOverlap(poly, loc.polygon);
  return loc.point !== undefined && pointInPolygon(loc.point, poly);
}

function circleCoversZone(c: { centre: LatLon; radiusKm: number }, loc: ZoneLocation): boolean {
  if (loc.polygon) {
    const zone = loc.polygon;
    if (pointInPolygon(c.centre, zone)) return true;
    return edges(zone).some(([p, q]) => distanceToSegmentKm(c.centre, p, q) <= c.radiusKm);
  }
  return loc.point !== undefined && haversineKm(c.centre, loc.point) <= c.radiusKm;
}

/** Ray casting; a point on an edge may fall either way, which at metres from a village boundary does not matter. */
export function pointInPolygon(p: LatLon, poly: readonly LatLon[]): boolean {
  const [y, x] = p;
  let inside = false;
  for (const [[yi, xi], [yj, xj]] of edges(poly)) {
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function polygonsOverlap(a: readonly LatLon[], b: readonly LatLon[]): boolean {
  if (a.some((p) => pointInPolygon(p, b)) || b.some((p) => pointInPolygon(p, a))) return true;
  const eb = edges(b);
  return edges(a).some(([p, q]) => eb.some(([r, s]) => segmentsCross(p, q, r, s)));
}

function edges(poly: readonly LatLon[]): Array<[LatLon, LatLon]> {
  return poly.map((p, i) => [p, poly[(i + 1) % poly.length]!]);
}

function segmentsCross(p: LatLon, q: LatLon, r: LatLon, s: LatLon): boolean {
  const o = (a: LatLon, b: LatLon, c: LatLon): number => Math.sign((b[1] - a[1]) * (c[0] - a[0]) - (b[0] - a[0]) * (c[1] - a[1]));
  return o(p, q, r) !== o(p, q, s) && o(r, s, p) !== o(r, s, q);
}

const EARTH_RADIUS_KM = 6371.0088;

export function haversineKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Distance from c to segment pq, in a local flat projection around c (good to metres over a commune). */
function distanceToSegmentKm(c: LatLon, p: LatLon, q: LatLon): number {
  const kmPerDegLat = (Math.PI / 180) * EARTH_RADIUS_KM;
  const kmPerDegLon = kmPerDegLat * Math.cos((c[0] * Math.PI) / 180);
  const xy = (a: LatLon): [number, number] => [(a[1] - c[1]) * kmPerDegLon, (a[0] - c[0]) * kmPerDegLat];
  const [px, py] = xy(p);
  const [qx, qy] = xy(q);
  const dx = qx - px;
  const dy = qy - py;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(px * dx + py * dy) / len2));
  return Math.hypot(px + t * dx, py + t * dy);
}
