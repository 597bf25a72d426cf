// geoip-country ships no types; only the part the collector uses.
declare module 'geoip-country' {
  export interface GeoCountry {
    country: string;
    name: string;
  }
  const geoip: { lookup(ip: string): GeoCountry | null };
  export default geoip;
}
