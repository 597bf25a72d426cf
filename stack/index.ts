/** Public surface of stack/: the local Kafka (KRaft, jars from Maven Central), Redis and registry, without Docker. */
export { stackUp, stackDown, stackStatus, registryRunning, REGISTRY_ENTRY, type StackInfo } from './stack.ts';
export { fetchJars, jarsPresent, kafkaRunning, brokerAnswers, ensureTopics, newClusterId, type TopicSpec } from './kafka.ts';
export { ensureRedis, redisAnswers, ownRedisRunning } from './redis.ts';
