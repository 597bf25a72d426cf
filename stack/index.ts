/** Public surface of stack/: the local Kafka (KRaft, jars from Maven Central), Redis and registry, without Docker. */
export { stackUp, stackDown, stackStatus, registryRunning, REGISTRY_ENTRY, type StackInfo } from './stack.ts';
export { fetchJars, jarsPresent, kafkaRunning, brokerAnswers, newClusterId, startKafka, type KafkaStackOptions } from './kafka.ts';
export { ensureRedis, redisAnswers, ownRedisRunning } from './redis.ts';
export { ensureClickHouse, startClickHouse, startClickHouseCluster, remoteServersXml, clickhouseAnswers, clickhouseRunning, clickhouseBinary, ownClickHouseUrl, stackClickHouse, CLICKHOUSE_MALLOC_CONF, type ClickHouseInfo, type ClickHouseServerSpec, type ClickHouseClusterSpec } from './clickhouse.ts';
export { clusterUp, clusterDown, clusterStatus, clusterLayout, clusterPaths, type ClusterLayout, type ClusterStackInfo } from './cluster.ts';
export { brokerRunning, brokerName, startKafkaCluster, clusterServes, type KafkaNodeInfo } from './kafka-cluster.ts';
export { redisNodeRunning, redisNodeRole, redisClusterOk, startRedisCluster, type RedisNodeInfo } from './redis-cluster.ts';
