// Pod networking: bridges, veths, addresses, NAT and published ports (docs/DESIGN.md, "src/network").
export { DEFAULT_NETWORK, type NetworkConfig } from './config.js';
export { ensureNetwork, removeNetwork, listNetworks, readNetwork, networkNames } from './bridge.js';
export { allocateIp, releaseIps, listAllocations } from './ipam.js';
export { hostVethName, isHostVethName, listHostVeths, POD_NET_SYSCTLS, setupPodNetwork, teardownPodNetwork, teardownPodNetworkAsync, type SetupPodNetworkOptions } from './pod.js';
export { addPortMappings, removePortMappings, listPortMappingOwners, parsePublish, formatPublish, type PortMapping } from './ports.js';
export { parseCidr, parseIp, ipToInt, intToIp, contains, overlaps, broadcastOf, type Cidr } from './ip.js';
export { macForIp } from './mac.js';
export { nftTable } from './nft.js';
export { NetlinkHandle } from './netlink/handle.js';
export type { Link, Addr, Route } from './netlink/handle.js';
